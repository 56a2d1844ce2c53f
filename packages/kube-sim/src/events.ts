/** Records core/v1 Events the way the kubelet, scheduler and controllers do (with counting). */
import { EVENT, findByKind } from './resources';
import { nowRfc3339, type Store } from './store';
import type { KObj } from './types';

export interface EventSource {
  component: string;
  host?: string;
}

let lastNano = 0n;
function uniqueNano(): bigint {
  let n = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
  if (n <= lastNano) n = lastNano + 1n;
  lastNano = n;
  return n;
}

export class EventRecorder {
  private readonly index = new Map<string, string>();

  constructor(private readonly store: Store) {}

  record(obj: KObj, type: 'Normal' | 'Warning', reason: string, message: string, source: EventSource, fieldPath?: string): void {
    const ns = obj.metadata.namespace ?? 'default';
    if (!this.store.get(findByKind('v1', 'Namespace')!, undefined, ns)) return;
    const aggKey = `${obj.metadata.uid}|${type}|${reason}|${message}|${source.component}|${fieldPath ?? ''}`;
    const now = nowRfc3339();
    const existingName = this.index.get(aggKey);
    if (existingName && this.store.get(EVENT, ns, existingName)) {
      this.store.mutate(EVENT, ns, existingName, e => {
        e.count = ((e.count as number) ?? 1) + 1;
        e.lastTimestamp = now;
      });
      return;
    }
    const name = `${obj.metadata.name}.${uniqueNano().toString(16)}`;
    const involved: Record<string, unknown> = {
      kind: obj.kind,
      namespace: obj.metadata.namespace,
      name: obj.metadata.name,
      uid: obj.metadata.uid,
      apiVersion: obj.apiVersion,
      resourceVersion: obj.metadata.resourceVersion,
    };
    if (fieldPath) involved.fieldPath = fieldPath;
    if (!obj.metadata.namespace) delete involved.namespace;
    const ev: KObj = {
      kind: 'Event',
      apiVersion: 'v1',
      metadata: { name, namespace: ns },
      involvedObject: involved,
      reason,
      message,
      source: source.host ? { component: source.component, host: source.host } : { component: source.component },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      type,
      eventTime: null,
      reportingComponent: source.component,
      reportingInstance: source.host ?? '',
    };
    this.store.create(EVENT, ev);
    this.index.set(aggKey, name);
  }
}
