/*
 * Reads the headers of a tar stream (after decompression) and refuses what no restore may
 * extract, before anything reaches a volume: absolute names, `..` components, links whose target
 * leaves the volume, entries that pass through a symlink the archive made, hard links to
 * something the archive did not hold, device nodes and FIFOs, and anything that is not a
 * well-formed, complete archive. It also counts entries and bytes, which size the target.
 *
 * The extracting tar cannot be trusted with this: BusyBox tar strips a leading `/` and
 * everything up to the last `/../` instead of refusing, and both GNU and BusyBox tar follow a
 * symlink the archive created earlier when a later entry's path runs through it.
 *
 * It is incremental (`write` any chunk sizes, then `end`) and holds at most one header, one
 * long name or one pax record set in memory, whatever the archive's size.
 */
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';

const BLOCK = 512;
/** Long names (GNU 'L'/'K') and pax headers larger than this are refused, not buffered. */
const MAX_META_BYTES = 1024 * 1024;

export interface TarScanResult {
  /** Entries the archive holds (directories, files, links), metadata entries not counted. */
  entries: number;
  /** Bytes of regular-file content: what the files occupy once extracted. */
  fileBytes: number;
  /** Bytes of the uncompressed tar stream, headers and padding included. */
  tarBytes: number;
}

/** The archive holds something a restore must not extract, or is not a complete tar archive. */
export class UnsafeArchiveError extends Error {
  readonly name = 'UnsafeArchiveError';
}

type Phase = 'header' | 'data' | 'meta' | 'end';

interface Pending {
  path?: string;
  linkpath?: string;
  size?: number;
}

function field(header: Buffer, offset: number, length: number): string {
  const raw = header.subarray(offset, offset + length);
  const nul = raw.indexOf(0);
  return (nul === -1 ? raw : raw.subarray(0, nul)).toString('utf8');
}

/** Octal, or GNU base-256 when the first byte has its high bit set. */
function numeric(header: Buffer, offset: number, length: number): number {
  const raw = header.subarray(offset, offset + length);
  if (raw[0] & 0x80) {
    if (raw[0] === 0xff) throw new UnsafeArchiveError('the archive holds a negative size');
    let value = raw[0] & 0x7f;
    for (let i = 1; i < raw.length; i++) value = value * 256 + raw[i];
    return value;
  }
  const text = field(header, offset, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new UnsafeArchiveError(`the archive has a malformed header field '${text}'`);
  return parseInt(text, 8);
}

function checksumMatches(header: Buffer): boolean {
  const stored = numeric(header, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
  return sum === stored;
}

/** pax records: "<len> <key>=<value>\n", repeated. */
function parsePax(data: Buffer): Pending {
  const out: Pending = {};
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space === -1) break;
    const len = Number(data.subarray(pos, space).toString('ascii'));
    if (!Number.isInteger(len) || len <= 0 || pos + len > data.length) {
      throw new UnsafeArchiveError('the archive has a malformed pax header');
    }
    const record = data.subarray(space + 1, pos + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    if (key === 'path') out.path = value;
    else if (key === 'linkpath') out.linkpath = value;
    else if (key === 'size') out.size = Number(value);
    pos += len;
  }
  return out;
}

/**
 * `./a/b/` -> `a/b`; the archive root (`.` or `./`) -> ''. Refuses absolute names and `..`.
 */
function normalizeName(name: string): string {
  if (name.includes('\0')) throw new UnsafeArchiveError(`the archive entry name holds a NUL byte`);
  if (name.startsWith('/')) {
    throw new UnsafeArchiveError(`the archive entry '${name}' has an absolute name`);
  }
  const parts = name.split('/').filter(p => p !== '' && p !== '.');
  if (parts.includes('..')) {
    throw new UnsafeArchiveError(`the archive entry '${name}' has a '..' component`);
  }
  return parts.join('/');
}

/** Whether a relative symlink target, read from the link's directory, climbs above the root. */
function escapesRoot(linkName: string, target: string): boolean {
  let depth = linkName.split('/').length - 1; // the link's directory
  for (const part of target.split('/')) {
    if (part === '..') depth--;
    else if (part !== '' && part !== '.') depth++;
    if (depth < 0) return true;
  }
  return false;
}

export interface TarScanner {
  write(chunk: Buffer): void;
  /** Checks that the archive ended properly and returns what it held. */
  end(): TarScanResult;
}

export function createTarScanner(): TarScanner {
  let phase: Phase = 'header';
  let buffered: Buffer[] = [];
  let bufferedBytes = 0;
  /** Bytes still to skip (file data and padding) or to collect (meta). */
  let remaining = 0;
  let metaType = '';
  let metaSize = 0;
  let pending: Pending = {};
  let zeroBlocks = 0;
  const result: TarScanResult = { entries: 0, fileBytes: 0, tarBytes: 0 };
  /** Names the archive made symlinks, and names it made (for hard-link targets). */
  const symlinks = new Set<string>();
  const linkable = new Set<string>();

  function throughSymlink(name: string): string | undefined {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (symlinks.has(prefix)) return prefix;
    }
    return undefined;
  }

  function entry(header: Buffer) {
    const type = String.fromCharCode(header[156] || 0x30);
    const magic = header.subarray(257, 263).toString('latin1');
    let name = field(header, 0, 100);
    if (magic === 'ustar\0') {
      const prefix = field(header, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    const size = pending.size ?? numeric(header, 124, 12);
    const linkname = pending.linkpath ?? field(header, 157, 100);
    name = pending.path ?? name;
    pending = {};

    if (type === 'L' || type === 'K' || type === 'x' || type === 'g') {
      if (size > MAX_META_BYTES) throw new UnsafeArchiveError(`the archive has a ${size}-byte ${type} header`);
      metaType = type;
      metaSize = size;
      remaining = Math.ceil(size / BLOCK) * BLOCK;
      phase = remaining > 0 ? 'meta' : 'header';
      return;
    }

    const normalized = normalizeName(name);
    if (symlinks.has(normalized)) {
      throw new UnsafeArchiveError(`the archive entry '${name}' replaces a symlink the archive made earlier`);
    }
    const via = throughSymlink(normalized);
    if (via !== undefined) {
      throw new UnsafeArchiveError(
        `the archive entry '${name}' lies under '${via}', which the archive made a symlink: extracting it would write through the link`,
      );
    }
    switch (type) {
      case '0':
      case '7':
        result.fileBytes += size;
        linkable.add(normalized);
        break;
      case '5':
        break;
      case '2': {
        if (!linkname) throw new UnsafeArchiveError(`the archive symlink '${name}' has no target`);
        if (linkname.startsWith('/')) {
          throw new UnsafeArchiveError(`the archive symlink '${name}' points to the absolute path '${linkname}', outside the volume`);
        }
        if (normalized === '' || escapesRoot(normalized, linkname)) {
          throw new UnsafeArchiveError(`the archive symlink '${name}' points to '${linkname}', outside the volume`);
        }
        symlinks.add(normalized);
        linkable.add(normalized);
        break;
      }
      case '1': {
        const target = normalizeName(linkname);
        if (throughSymlink(target) !== undefined || !linkable.has(target)) {
          throw new UnsafeArchiveError(
            `the archive hard link '${name}' points to '${linkname}', which is not a file the archive holds before it`,
          );
        }
        linkable.add(normalized);
        break;
      }
      case '3':
      case '4':
        throw new UnsafeArchiveError(`the archive entry '${name}' is a device node`);
      case '6':
        throw new UnsafeArchiveError(`the archive entry '${name}' is a FIFO`);
      default:
        throw new UnsafeArchiveError(`the archive entry '${name}' has the unsupported type '${type}'`);
    }
    result.entries++;
    // Only regular files carry data; a size on other types is skipped like tar does.
    remaining = type === '0' || type === '7' ? Math.ceil(size / BLOCK) * BLOCK : 0;
    phase = remaining > 0 ? 'data' : 'header';
  }

  function meta(data: Buffer) {
    const content = data.subarray(0, metaSize);
    if (metaType === 'L') pending.path = field(content, 0, content.length);
    else if (metaType === 'K') pending.linkpath = field(content, 0, content.length);
    else if (metaType === 'x') pending = { ...pending, ...parsePax(content) };
    // 'g' (global pax) sets defaults we do not need: names always come per entry.
  }

  function take(n: number): Buffer | undefined {
    if (bufferedBytes < n) return undefined;
    const all = buffered.length === 1 ? buffered[0] : Buffer.concat(buffered);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    buffered = rest.length ? [rest] : [];
    bufferedBytes = rest.length;
    return out;
  }

  return {
    write(chunk: Buffer) {
      result.tarBytes += chunk.length;
      let offset = 0;
      while (offset < chunk.length) {
        if (phase === 'data') {
          const skip = Math.min(remaining, chunk.length - offset);
          remaining -= skip;
          offset += skip;
          if (remaining === 0) phase = 'header';
          continue;
        }
        if (phase === 'end') return; // trailing zero padding after the end-of-archive marker
        const want = phase === 'header' ? BLOCK : remaining;
        const piece = chunk.subarray(offset, offset + (want - bufferedBytes));
        buffered.push(piece);
        bufferedBytes += piece.length;
        offset += piece.length;
        const block = take(want);
        if (!block) continue;
        if (phase === 'meta') {
          meta(block);
          phase = 'header';
          continue;
        }
        if (block.every(b => b === 0)) {
          zeroBlocks++;
          if (zeroBlocks === 2) phase = 'end';
          continue;
        }
        if (zeroBlocks > 0) throw new UnsafeArchiveError('the archive has a header after an empty block');
        if (!checksumMatches(block)) throw new UnsafeArchiveError('the archive has a corrupt header (checksum mismatch); it is not a tar archive or is damaged');
        entry(block);
      }
    },
    end(): TarScanResult {
      if (phase !== 'end') {
        throw new UnsafeArchiveError('the archive ends early: it has no end-of-archive marker, so it is incomplete');
      }
      return { ...result };
    },
  };
}

/** Scans a whole `.tar.gz` stream. Rejects with UnsafeArchiveError for anything unsafe or broken. */
export async function scanTarGz(source: Readable): Promise<TarScanResult> {
  const scanner = createTarScanner();
  const gunzip = createGunzip();
  source.on('error', error => gunzip.destroy(error));
  source.pipe(gunzip);
  try {
    for await (const chunk of gunzip) scanner.write(chunk as Buffer);
  } catch (error) {
    if (error instanceof UnsafeArchiveError) throw error;
    throw new UnsafeArchiveError(`the archive is not valid gzip: ${(error as Error).message}`);
  } finally {
    source.unpipe(gunzip);
    source.destroy();
  }
  return scanner.end();
}
