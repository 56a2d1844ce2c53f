/*
 * Size parsing for fixture file trees: plain byte counts or Kubernetes-style
 * quantities ("5Mi", "1G", "512k", "1.5Gi").
 */

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  m: 1e6,
  g: 1e9,
  t: 1e12,
  ki: 1024,
  mi: 1024 ** 2,
  gi: 1024 ** 3,
  ti: 1024 ** 4,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/** Parses a byte count: a non-negative number, or a string such as "5Mi", "10M", "1.5Gi" or "123". */
export function parseSize(v: number | string): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) {
      throw new Error(`invalid size: ${v}`);
    }
    return Math.floor(v);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
  if (!m) {
    throw new Error(`invalid size: ${JSON.stringify(v)}`);
  }
  const unit = m[2];
  // Kubernetes quantities: "M" is mega (1e6) and "m" would be milli; accept
  // both cases for the SI prefixes since milli-bytes make no sense here.
  const factor = UNITS[unit.toLowerCase()];
  if (factor === undefined) {
    throw new Error(`invalid size unit in ${JSON.stringify(v)}`);
  }
  return Math.floor(parseFloat(m[1]) * factor);
}
