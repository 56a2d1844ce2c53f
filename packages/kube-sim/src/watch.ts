/**
 * Watch streams: newline-delimited JSON watch events over a chunked HTTP response, with
 * resourceVersion resume, selector-aware ADDED/DELETED translation, bookmarks,
 * sendInitialEvents, Table events and timeoutSeconds.
 */
import type http from 'node:http';
import { jsonOf, type StoreEvent, type StoredItem, type Store } from './store';
import { ApiError } from './status';
import type { ResourceType } from './resources';
import { resourceId, apiVersionOf } from './resources';
import { tableJson, tableRowJson } from './tables';
import type { KObj } from './types';

export interface WatchParams {
  namespace?: string;
  resourceVersion?: string;
  filter: (obj: KObj) => boolean;
  timeoutSeconds?: number;
  allowBookmarks: boolean;
  sendInitialEvents: boolean;
  table: boolean;
  includeObject: 'None' | 'Metadata' | 'Object';
  /** watch on a single object (GET .../pods/x?watch=1) */
  name?: string;
}

export class WatchHub {
  private readonly open = new Set<() => void>();

  constructor(private readonly store: Store) {}

  closeAll(): void {
    for (const close of [...this.open]) close();
  }

  get size(): number {
    return this.open.size;
  }

  serve(type: ResourceType, p: WatchParams, req: http.IncomingMessage, res: http.ServerResponse): void {
    const rid = resourceId(type);
    const inScope = (obj: KObj) =>
      (!type.namespaced || !p.namespace || obj.metadata.namespace === p.namespace) && (!p.name || obj.metadata.name === p.name);
    const matches = (obj: KObj) => inScope(obj) && p.filter(obj);
    let firstTable = true;
    const encode = (evType: string, item: StoredItem): string => {
      if (p.table) {
        const row = tableRowJson(type, item.obj, jsonOf(item), p.includeObject, Date.now());
        const t = tableJson(type, [row], { resourceVersion: item.obj.metadata.resourceVersion ?? '' }, firstTable);
        firstTable = false;
        return `{"type":"${evType}","object":${t}}\n`;
      }
      return `{"type":"${evType}","object":${jsonOf(item)}}\n`;
    };
    const bookmark = (rv: number, initialEnd = false): string => {
      const meta: Record<string, unknown> = { resourceVersion: String(rv), creationTimestamp: null };
      if (initialEnd) meta.annotations = { 'k8s.io/initial-events-end': 'true' };
      return `{"type":"BOOKMARK","object":${JSON.stringify({ kind: type.kind, apiVersion: apiVersionOf(type), metadata: meta })}}\n`;
    };

    // Decide the starting point before subscribing (all synchronous: no event can slip in between).
    const rvParam = p.resourceVersion;
    let initial: string[] = [];
    let replay: StoreEvent[] = [];
    let expiredError: ApiError | undefined;
    const wantInitial = p.sendInitialEvents || !rvParam || rvParam === '0';
    if (wantInitial) {
      for (const it of this.store.all(type, type.namespaced ? p.namespace || undefined : undefined)) {
        if (matches(it.obj)) initial.push(encode('ADDED', it));
      }
      if (p.sendInitialEvents && p.allowBookmarks) initial.push(bookmark(this.store.resourceVersion, true));
    } else {
      const rv = Number(rvParam);
      if (!Number.isFinite(rv)) {
        expiredError = new ApiError(400, 'BadRequest', `invalid resource version: strconv.ParseUint: parsing "${rvParam}": invalid syntax`);
      } else {
        try {
          replay = this.store.eventsSince(rv).filter(e => e.rid === rid);
        } catch (e) {
          expiredError = e as ApiError;
        }
      }
    }
    if (expiredError && expiredError.code === 400) {
      res.writeHead(400, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(expiredError.toStatus()));
      return;
    }

    const contentType = p.table ? 'application/json;as=Table;v=v1;g=meta.k8s.io' : 'application/json';
    res.writeHead(200, { 'Content-Type': contentType, 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    if (expiredError) {
      res.end(`{"type":"ERROR","object":${JSON.stringify(expiredError.toStatus())}}\n`);
      return;
    }

    const translate = (ev: StoreEvent): string | undefined => {
      const now = matches(ev.item.obj);
      if (ev.type === 'ADDED') return now ? encode('ADDED', ev.item) : undefined;
      if (ev.type === 'DELETED') return ev.prev && matches(ev.prev.obj) ? encode('DELETED', ev.item) : undefined;
      const before = ev.prev ? matches(ev.prev.obj) : false;
      if (now && before) return encode('MODIFIED', ev.item);
      if (now && !before) return encode('ADDED', ev.item);
      if (!now && before) return encode('DELETED', ev.item);
      return undefined;
    };

    let closed = false;
    let unsubscribe = () => {};
    const timers: NodeJS.Timeout[] = [];
    const close = () => {
      if (closed) return;
      closed = true;
      unsubscribe();
      for (const t of timers) clearTimeout(t);
      this.open.delete(close);
      if (!res.writableEnded) res.end();
    };
    this.open.add(close);
    unsubscribe = this.store.subscribe(ev => {
      if (closed || ev.rid !== rid) return;
      const line = translate(ev);
      if (line) res.write(line);
    });
    for (const line of initial) res.write(line);
    initial = [];
    for (const ev of replay) {
      const line = translate(ev);
      if (line) res.write(line);
    }
    replay = [];
    if (p.allowBookmarks && !p.table) {
      const iv = setInterval(() => {
        if (!closed) res.write(bookmark(this.store.resourceVersion));
      }, 10_000);
      iv.unref?.();
      timers.push(iv);
    }
    if (p.timeoutSeconds && p.timeoutSeconds > 0) {
      const t = setTimeout(close, p.timeoutSeconds * 1000);
      timers.push(t);
    }
    req.on('close', close);
    res.on('close', close);
  }
}
