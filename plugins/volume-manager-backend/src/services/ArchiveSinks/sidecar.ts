/*
 * What the built-in sinks share when reading an archive back: the `.sha256` sidecar every one of
 * them writes next to an archive, in `sha256sum` format (`<64 lowercase hex>  <file name>\n`),
 * and how a refused URI is quoted in an error.
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

/**
 * `uri` as an error may quote it: a URI is data from the database or a request, so a password
 * someone put in its user part (`ftp://u:secret@host/...`) is replaced, and it is cut to 300
 * characters.
 */
export function quoteUri(uri: string): string {
  const redacted = uri.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^/@?#]*?:)[^/@?#]*@/, '$1***@');
  return `'${redacted.length > 300 ? `${redacted.slice(0, 300)}...` : redacted}'`;
}
