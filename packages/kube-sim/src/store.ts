/**
 * The object store: one sorted collection per resource type, a global resourceVersion counter,
 * an event history for watches, and list snapshots for `limit`/`continue` pagination.
 *
 * Stored objects are immutable: every change stores a new object, so a list snapshot (the sorted
 * array of a collection at a resourceVersion) stays consistent for as long as it is kept.
 */
import { randomUUID } from 'node:crypto';
import { ApiError, errors } from './status';
import type { ResourceType } from './resources';
import { resourceId } from './resources';
import type { KObj } from './types';

export interface StoredItem {
  readonly key: string;
  readonly obj: KObj;
  /** cached JSON serialisation */
  json?: string;
}

export function jsonOf(item: StoredItem): string {
  if (item.json === undefined) item.json = JSON.stringify(item.obj);
  return item.json;
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: EventType;
  rid: string;
  rv: number;
  item: StoredItem;
  prev?: StoredItem;
}

class Collection {
  readonly items = new Map<string, StoredItem>();
  private sorted: StoredItem[] | null = null;

  constructor(readonly type: ResourceType) {}

  invalidate(): void {
    this.sorted = null;
  }

  getSorted(): StoredItem[] {
    if (!this.sorted) {
      this.sorted = [...this.items.values()].sort(compareKeys);
    }
    return this.sorted;
  }
}

export function keyOf(type: ResourceType, namespace: string | undefined, name: string): string {
  return type.namespaced ? `${namespace ?? ''}/${name}` : name;
}

function compareKeys(a: StoredItem, b: StoredItem): number {
  if (a.key === b.key) return 0;
  return a.key < b.key ? -1 : 1;
}

function lowerBound(arr: StoredItem[], key: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid].key < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface ListOptions {
  namespace?: string;
  limit?: number;
  continueToken?: string;
  filter?: (obj: KObj) => boolean;
  /** true when a label or field selector is present (no remainingItemCount then) */
  filtered?: boolean;
}

export interface ListResult {
  items: StoredItem[];
  resourceVersion: number;
  continueToken?: string;
  remainingItemCount?: number;
}

interface ContinueToken {
  v: string;
  rv: number;
  start: string;
}

const SNAPSHOT_TTL_MS = 5 * 60 * 1000;
const MAX_SNAPSHOTS = 256;
const MAX_HISTORY = 100_000;

export class Store {
  private rv = 1;
  private readonly collections = new Map<string, Collection>();
  private readonly history: StoreEvent[] = [];
  private readonly listeners = new Set<(ev: StoreEvent) => void>();
  private readonly snapshots = new Map<string, { items: StoredItem[]; at: number }>();
  /** resourceVersion of the oldest event still in the history */
  private oldestRv = 1;
  /** counts list requests per resource id, for tests and benchmarks */
  readonly listRequests = new Map<string, number>();

  constructor(types: ResourceType[]) {
    for (const t of types) if (!t.virtual) this.collections.set(resourceId(t), new Collection(t));
  }

  get resourceVersion(): number {
    return this.rv;
  }

  private coll(type: ResourceType): Collection {
    const c = this.collections.get(resourceId(type));
    if (!c) throw errors.internal(`no storage for ${type.resource}`);
    return c;
  }

  get(type: ResourceType, namespace: string | undefined, name: string): StoredItem | undefined {
    return this.coll(type).items.get(keyOf(type, namespace, name));
  }

  /** All objects of a type (optionally in one namespace), in key order. */
  all(type: ResourceType, namespace?: string): StoredItem[] {
    const arr = this.coll(type).getSorted();
    if (!type.namespaced || namespace === undefined) return arr;
    const lo = lowerBound(arr, `${namespace}/`);
    const hi = lowerBound(arr, `${namespace}0`); // '0' is the character after '/'
    return arr.slice(lo, hi);
  }

  allTypes(): ResourceType[] {
    return [...this.collections.values()].map(c => c.type);
  }

  count(type: ResourceType): number {
    return this.coll(type).items.size;
  }

  subscribe(fn: (ev: StoreEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(ev: StoreEvent, record: boolean): void {
    if (record) {
      this.history.push(ev);
      if (this.history.length > MAX_HISTORY) {
        const drop = this.history.splice(0, this.history.length - MAX_HISTORY);
        this.oldestRv = drop[drop.length - 1].rv + 1;
      }
    } else {
      this.oldestRv = this.rv + 1;
    }
    for (const l of [...this.listeners]) l(ev);
  }

  /** Events after `rv`; throws 410 Expired when the history no longer reaches back that far. */
  eventsSince(rv: number): StoreEvent[] {
    if (rv >= this.rv) return [];
    if (rv + 1 < this.oldestRv) {
      throw errors.gone(`too old resource version: ${rv} (${this.oldestRv - 1})`);
    }
    let lo = 0;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.history[mid].rv <= rv) lo = mid + 1;
      else hi = mid;
    }
    return this.history.slice(lo);
  }

  /** Stores a new object: fills uid, resourceVersion and creationTimestamp. */
  create(type: ResourceType, obj: KObj, opts: { record?: boolean; keepTimestamps?: boolean } = {}): StoredItem {
    const c = this.coll(type);
    const name = obj.metadata.name!;
    const key = keyOf(type, obj.metadata.namespace, name);
    if (c.items.has(key)) throw errors.alreadyExists(type.group, type.resource, name);
    this.rv++;
    obj.metadata.uid = obj.metadata.uid ?? randomUUID();
    obj.metadata.resourceVersion = String(this.rv);
    if (!(opts.keepTimestamps && obj.metadata.creationTimestamp)) obj.metadata.creationTimestamp = nowRfc3339();
    const item: StoredItem = { key, obj };
    c.items.set(key, item);
    c.invalidate();
    this.emit({ type: 'ADDED', rid: resourceId(type), rv: this.rv, item }, opts.record !== false);
    return item;
  }

  /** Replaces a stored object (same key) and bumps its resourceVersion. */
  update(type: ResourceType, obj: KObj): StoredItem {
    const c = this.coll(type);
    const key = keyOf(type, obj.metadata.namespace, obj.metadata.name!);
    const prev = c.items.get(key);
    if (!prev) throw errors.notFound(type.group, type.resource, obj.metadata.name!);
    this.rv++;
    obj.metadata.resourceVersion = String(this.rv);
    obj.metadata.uid = prev.obj.metadata.uid;
    obj.metadata.creationTimestamp = prev.obj.metadata.creationTimestamp;
    const item: StoredItem = { key, obj };
    c.items.set(key, item);
    c.invalidate();
    this.emit({ type: 'MODIFIED', rid: resourceId(type), rv: this.rv, item, prev }, true);
    return item;
  }

  /** Applies `mutate` to a copy of the stored object and stores the result. */
  mutate(type: ResourceType, namespace: string | undefined, name: string, mutate: (o: KObj) => void): StoredItem | undefined {
    const cur = this.get(type, namespace, name);
    if (!cur) return undefined;
    const next = structuredClone(cur.obj);
    mutate(next);
    return this.update(type, next);
  }

  remove(type: ResourceType, namespace: string | undefined, name: string): StoredItem | undefined {
    const c = this.coll(type);
    const key = keyOf(type, namespace, name);
    const prev = c.items.get(key);
    if (!prev) return undefined;
    this.rv++;
    c.items.delete(key);
    c.invalidate();
    const obj = structuredClone(prev.obj);
    obj.metadata.resourceVersion = String(this.rv);
    const item: StoredItem = { key, obj };
    this.emit({ type: 'DELETED', rid: resourceId(type), rv: this.rv, item, prev }, true);
    return item;
  }

  /** A list page: key order, label/field filtering, `limit`/`continue` over a stable snapshot. */
  list(type: ResourceType, opts: ListOptions): ListResult {
    const rid = resourceId(type);
    this.listRequests.set(rid, (this.listRequests.get(rid) ?? 0) + 1);
    let arr: StoredItem[];
    let rv: number;
    let startKey = '';
    if (opts.continueToken) {
      const tok = decodeContinue(opts.continueToken);
      if (tok.rv === -1) {
        // the token handed out with a 410: continue from the key, at the latest state
        arr = this.coll(type).getSorted();
        rv = this.rv;
      } else {
        const snap = this.snapshots.get(`${rid}@${tok.rv}`);
        if (!snap || Date.now() - snap.at > SNAPSHOT_TTL_MS) {
          throw new ApiError(
            410,
            'Expired',
            'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
            undefined,
            { continue: encodeContinue({ v: 'meta.k8s.io/v1', rv: -1, start: tok.start }) },
          );
        }
        arr = snap.items;
        rv = tok.rv;
      }
      startKey = tok.start;
    } else {
      arr = this.coll(type).getSorted();
      rv = this.rv;
    }
    let lo = 0;
    let hi = arr.length;
    if (type.namespaced && opts.namespace) {
      lo = lowerBound(arr, `${opts.namespace}/`);
      hi = lowerBound(arr, `${opts.namespace}0`);
    }
    if (startKey) lo = Math.max(lo, lowerBound(arr, startKey));
    const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;
    const out: StoredItem[] = [];
    let i = lo;
    for (; i < hi; i++) {
      const it = arr[i];
      if (opts.filter && !opts.filter(it.obj)) continue;
      out.push(it);
      if (limit && out.length === limit) {
        i++;
        break;
      }
    }
    const result: ListResult = { items: out, resourceVersion: rv };
    if (limit && out.length === limit && i < hi) {
      const last = out[out.length - 1].key;
      result.continueToken = encodeContinue({ v: 'meta.k8s.io/v1', rv, start: `${last}\u0000` });
      if (!opts.filtered) result.remainingItemCount = hi - i;
      this.keepSnapshot(`${rid}@${rv}`, arr);
    }
    return result;
  }

  private keepSnapshot(id: string, items: StoredItem[]): void {
    const existing = this.snapshots.get(id);
    if (existing) {
      existing.at = Date.now();
      return;
    }
    this.snapshots.set(id, { items, at: Date.now() });
    if (this.snapshots.size > MAX_SNAPSHOTS) {
      const oldest = this.snapshots.keys().next().value as string;
      this.snapshots.delete(oldest);
    }
  }

  /** Drops every pagination snapshot (tests use it to provoke 410 Expired). */
  expireSnapshots(): void {
    this.snapshots.clear();
  }
}

function encodeContinue(t: ContinueToken): string {
  return Buffer.from(JSON.stringify(t)).toString('base64');
}

function decodeContinue(s: string): ContinueToken {
  try {
    const t = JSON.parse(Buffer.from(s, 'base64').toString('utf8')) as ContinueToken;
    if (t.v !== 'meta.k8s.io/v1' || typeof t.rv !== 'number' || typeof t.start !== 'string') throw new Error('bad');
    return t;
  } catch {
    throw errors.badRequest('continue key is not valid: illegal base64 data at input byte 0');
  }
}

export function nowRfc3339(d: Date = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
