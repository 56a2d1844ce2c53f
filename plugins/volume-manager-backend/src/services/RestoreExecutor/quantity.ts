/** Kubernetes resource quantities (`10Gi`, `500M`, `1.5e9`) as bytes, and bytes as `Mi`. */

const SUFFIXES: Record<string, number> = {
  '': 1,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** Bytes (rounded up), or undefined when `text` is not a quantity. */
export function parseQuantity(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const match = /^([+]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$/.exec(text.trim());
  if (!match) return undefined;
  const value = Number(match[1]) * (match[2] ? 10 ** Number(match[2].slice(1)) : SUFFIXES[match[3] ?? '']);
  return Number.isFinite(value) ? Math.ceil(value) : undefined;
}

const MI = 2 ** 20;

/** `bytes` rounded up to whole MiB, as a quantity. */
export function mebibytes(bytes: number): string {
  return `${Math.max(1, Math.ceil(bytes / MI))}Mi`;
}

/** Human-readable size for messages. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
