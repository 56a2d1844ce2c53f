import type { Volume } from '@nkvm/backstage-plugin-volume-manager-common';

/**
 * Formats an ISO timestamp as `YYYY-MM-DD HH:MM UTC`, independent of the browser's locale.
 *
 * @internal
 */
export function formatTimestamp(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return iso;
  }
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** Full precision of a timestamp, for tooltips: `YYYY-MM-DD HH:MM:SS UTC`. @internal */
export function formatExactTimestamp(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return iso;
  }
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

const UNITS: Array<[number, Intl.RelativeTimeFormatUnit]> = [
  [60, 'second'],
  [60, 'minute'],
  [24, 'hour'],
  [30, 'day'],
  [12, 'month'],
  [Number.POSITIVE_INFINITY, 'year'],
];

/**
 * "3 minutes ago", "yesterday", relative to `now`.
 *
 * @internal
 */
export function formatRelativeTime(iso: string, now: number = Date.now()): string {
  const time = new Date(iso).getTime();
  if (Number.isNaN(time)) {
    return iso;
  }
  let value = (time - now) / 1000;
  if (Math.abs(value) < 10) {
    return 'just now';
  }
  for (const [size, unit] of UNITS) {
    if (Math.abs(value) < size) {
      return new Intl.RelativeTimeFormat('en', { numeric: 'auto' }).format(
        Math.round(value),
        unit,
      );
    }
    value /= size;
  }
  return iso;
}

/** @internal */
export function formatOwner(volume: Volume): string {
  return volume.owner
    ? `${volume.owner.kind}/${volume.owner.name}`
    : 'unmounted';
}

/** @internal */
export function formatCapacity(volume: Volume): string {
  return volume.capacity.actual ?? volume.capacity.requested ?? '—';
}

/** The nodes of the pods that mount a PVC, without duplicates. @internal */
export function mountNodes(volume: Volume): string[] {
  return [
    ...new Set(
      volume.mounts.map(m => m.node).filter((n): n is string => Boolean(n)),
    ),
  ];
}

const BINARY_SUFFIXES: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const DECIMAL_SUFFIXES: Record<string, number> = {
  '': 1,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/**
 * Parses a Kubernetes quantity (`8Gi`, `500M`, `1e9`) into bytes; `undefined` when it cannot.
 *
 * @internal
 */
export function parseQuantity(quantity: string | null | undefined): number | undefined {
  if (!quantity) {
    return undefined;
  }
  const match = /^([0-9.]+(?:[eE][-+]?[0-9]+)?)([a-zA-Z]*)$/.exec(quantity.trim());
  if (!match) {
    return undefined;
  }
  const number = Number(match[1]);
  const factor = BINARY_SUFFIXES[match[2]] ?? DECIMAL_SUFFIXES[match[2]];
  if (!Number.isFinite(number) || factor === undefined) {
    return undefined;
  }
  return number * factor;
}

/** The capacity of a PVC in bytes: the bound size, else the requested one. @internal */
export function capacityBytes(volume: Volume): number | undefined {
  return parseQuantity(volume.capacity.actual ?? volume.capacity.requested);
}

/**
 * Bytes in binary units: `768 KiB`, `1.2 GiB`.
 *
 * @internal
 */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) {
    return '—';
  }
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/**
 * A duration in seconds as `850 ms`, `42 s`, `3 min 5 s`, `2 h 10 min`.
 *
 * @internal
 */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return '—';
  }
  if (seconds < 1) {
    return `${Math.round(seconds * 1000)} ms`;
  }
  if (seconds < 60) {
    return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    const rest = Math.round(seconds - minutes * 60);
    return rest ? `${minutes} min ${rest} s` : `${minutes} min`;
  }
  const hours = Math.floor(minutes / 60);
  const restMinutes = minutes - hours * 60;
  return restMinutes ? `${hours} h ${restMinutes} min` : `${hours} h`;
}

/** Seconds between two ISO timestamps; `undefined` when either is missing. @internal */
export function secondsBetween(
  start: string | null | undefined,
  end: string | null | undefined,
): number | undefined {
  if (!start || !end) {
    return undefined;
  }
  const ms = new Date(end).getTime() - new Date(start).getTime();
  return Number.isFinite(ms) ? Math.max(ms, 0) / 1000 : undefined;
}

/** The key of a PVC across clusters: `cluster/namespace/name`. @internal */
export function volumeKey(volume: { cluster: string; namespace: string; name: string }): string {
  return `${volume.cluster}/${volume.namespace}/${volume.name}`;
}

/** The same key for a backup item. @internal */
export function itemVolumeKey(item: { cluster: string; namespace: string; pvc: string }): string {
  return `${item.cluster}/${item.namespace}/${item.pvc}`;
}

/** `component:default/payments-db` → `component:payments-db`; other namespaces are kept. */
export function shortEntityRef(ref: string): string {
  return ref.replace(/^([^:]+):default\//, '$1:');
}
