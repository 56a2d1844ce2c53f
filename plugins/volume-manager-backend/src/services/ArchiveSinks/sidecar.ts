/*
 * The `.sha256` sidecar every built-in sink writes next to an archive, in `sha256sum` format:
 * `<64 lowercase hex>  <archive file name>\n`. Reading an archive back parses it here.
 */
import { ArchiveSinkError } from './types';

/** A sidecar is one line; anything longer is not one (and is never read whole into memory). */
export const MAX_SIDECAR_BYTES = 4096;

/**
 * The sha256 in a sidecar (lowercase hex). `what` names the sidecar in the error. A sidecar that
 * names another file than `fileName` is refused: it belongs to a different archive.
 */
export function parseSidecar(text: string, fileName: string, what: string): string {
  if (text.length > MAX_SIDECAR_BYTES) {
    throw new ArchiveSinkError(`${what}: not a sha256sum sidecar (over ${MAX_SIDECAR_BYTES} bytes)`, {
      transient: false,
    });
  }
  const m = /^([0-9a-fA-F]{64}) [ *](.+?)\r?\n?$/.exec(text);
  if (!m) {
    throw new ArchiveSinkError(`${what}: not a sha256sum sidecar ('<sha256>  <file name>')`, { transient: false });
  }
  if (m[2] !== fileName) {
    throw new ArchiveSinkError(`${what}: the sidecar is for '${m[2]}', not '${fileName}'`, { transient: false });
  }
  return m[1].toLowerCase();
}
