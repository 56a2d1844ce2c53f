/*
 * pods/exec over SPDY/3.1, for kubectl 1.27–1.29 (and the fallback of ≥1.30),
 * as the kubelet serves it with moby/spdystream:
 *
 * 1. HTTP upgrade: the client POSTs with `Upgrade: SPDY/3.1` and one
 *    `X-Stream-Protocol-Version` per protocol it supports; we answer
 *    `101 Switching Protocols` echoing the first one we support (client order).
 * 2. The client opens one SPDY stream per channel (SYN_STREAM with a
 *    zlib+dictionary compressed header block carrying `streamtype: error |
 *    stdin | stdout | stderr | resize`); each gets a SYN_REPLY.
 * 3. Once every expected stream exists the command starts. Output travels as
 *    DATA frames; stdin arrives as DATA frames and ends with a FIN flag.
 * 4. At the end the Status goes on the error stream, every server-side stream
 *    is FIN-ished, a GOAWAY follows, and the socket is closed.
 *
 * Flow control: spdystream neither sends nor honours WINDOW_UPDATE, so (like
 * the kubelet) we rely on TCP backpressure: a DATA frame is "done" when the
 * socket has taken it. WINDOW_UPDATE and SETTINGS frames are accepted and
 * ignored; PINGs are echoed.
 */
import type * as http from 'node:http';
import type * as stream from 'node:stream';
import * as zlib from 'node:zlib';
import { ExecSession, ExecTransport, FINISH_TIMEOUT_MS, startExecSession } from './channels';
import { SPDY3_DICTIONARY } from './spdy-dictionary';
import { encodeStatus, ExecStatus, httpStatusBody } from './status';
import type { ExecTarget } from './types';

/** Remote-command protocols over SPDY, newest first. */
export const SPDY_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

const SYN_STREAM = 1;
const SYN_REPLY = 2;
const RST_STREAM = 3;
const PING = 6;
const GOAWAY = 7;
const FLAG_FIN = 0x01;
const STREAM_CREATION_TIMEOUT_MS = 30_000;

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';

/** A zlib stream kept for the whole connection; each block is sync-flushed. */
export class ZContext {
  private chunks: Buffer[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  constructor(
    private readonly z: zlib.Inflate | zlib.Deflate,
    onError: () => void,
  ) {
    z.on('data', (c: Buffer) => this.chunks.push(c));
    // a corrupt header block: the flush callback never comes, so tear down
    z.on('error', onError);
  }
  process(buf: Buffer): Promise<Buffer> {
    const p = this.chain.then(
      () =>
        new Promise<Buffer>((resolve, reject) => {
          this.z.write(buf);
          this.z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
            const out = Buffer.concat(this.chunks);
            this.chunks = [];
            if (this.z.destroyed) reject(new Error('zlib error'));
            else resolve(out);
          });
        }),
    );
    this.chain = p.catch(() => undefined);
    return p;
  }
  close() {
    this.z.close();
  }
}

/** SPDY/3 header block: u32 count, then (u32 len, name, u32 len, value) pairs; values NUL-joined. */
export function decodeHeaderBlock(buf: Buffer): Map<string, string[]> {
  const headers = new Map<string, string[]>();
  let off = 0;
  const u32 = () => {
    const v = buf.readUInt32BE(off);
    off += 4;
    return v;
  };
  const str = () => {
    const n = u32();
    const s = buf.subarray(off, off + n).toString('utf8');
    off += n;
    return s;
  };
  const count = u32();
  for (let i = 0; i < count; i++) {
    const name = str().toLowerCase();
    headers.set(name, str().split('\0'));
  }
  return headers;
}

export function encodeHeaderBlock(headers: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const entries = Object.entries(headers);
  parts.push(u32(entries.length));
  for (const [k, v] of entries) {
    const kb = Buffer.from(k.toLowerCase());
    const vb = Buffer.from(v);
    parts.push(u32(kb.length), kb, u32(vb.length), vb);
  }
  return Buffer.concat(parts);
}

function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  const f = Buffer.allocUnsafe(8 + payload.length);
  f.writeUInt16BE(0x8000 | 3, 0);
  f.writeUInt16BE(type, 2);
  f.writeUInt32BE(((flags & 0xff) << 24) | payload.length, 4);
  payload.copy(f, 8);
  return f;
}

function dataFrameHeader(streamId: number, flags: number, length: number): Buffer {
  const f = Buffer.allocUnsafe(8);
  f.writeUInt32BE(streamId & 0x7fffffff, 0);
  f.writeUInt32BE(((flags & 0xff) << 24) | length, 4);
  return f;
}

/** The first protocol the client offers that we support; '' if none offered; null if none match. */
export function selectSpdyProtocol(header: string | string[] | undefined): string | null {
  const offered = (Array.isArray(header) ? header.join(',') : header ?? '')
    .split(',')
    .map(s => s.trim())
    .filter(Boolean);
  if (offered.length === 0) return '';
  return offered.find(p => SPDY_PROTOCOLS.includes(p)) ?? null;
}

class SpdyExecConnection {
  private buf: Buffer = Buffer.alloc(0);
  private chain: Promise<void> = Promise.resolve();
  private readonly inflate = new ZContext(zlib.createInflate({ dictionary: SPDY3_DICTIONARY }), () => this.teardown());
  private readonly deflate = new ZContext(zlib.createDeflate({ dictionary: SPDY3_DICTIONARY }), () => this.teardown());
  /** stdin that arrived before every stream was open (null entry = FIN). */
  private readonly earlyStdin: Array<Buffer | null> = [];
  private readonly streams = new Map<StreamType, number>();
  private readonly typeOf = new Map<number, StreamType>();
  private session: ExecSession | undefined;
  private finished = false;
  private closed = false;
  private lastStreamId = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly socket: stream.Duplex,
    private readonly protocol: string,
    private readonly target: ExecTarget,
  ) {
    this.timer = setTimeout(() => {
      if (!this.session) this.teardown();
    }, STREAM_CREATION_TIMEOUT_MS);
  }

  start(head: Buffer) {
    this.socket.on('data', (d: Buffer) => this.onData(d));
    this.socket.on('end', () => this.onGone());
    this.socket.on('close', () => this.onGone());
    if (head.length) this.onData(head);
  }

  private expected(): StreamType[] {
    const t = this.target;
    const list: StreamType[] = ['error'];
    if (t.stdin) list.push('stdin');
    if (t.stdout) list.push('stdout');
    if (t.stderr && !t.tty) list.push('stderr');
    if (t.tty && this.protocol !== 'channel.k8s.io' && this.protocol !== 'v2.channel.k8s.io') list.push('resize');
    return list;
  }

  private onData(d: Buffer) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4) & 0xffffff;
      if (this.buf.length < 8 + len) break;
      const frame = this.buf.subarray(0, 8 + len);
      this.buf = this.buf.subarray(8 + len);
      this.chain = this.chain.then(() => this.onFrame(frame)).catch(() => this.teardown());
    }
  }

  private async onFrame(f: Buffer) {
    const flags = f[4];
    const payload = f.subarray(8);
    if ((f[0] & 0x80) === 0) {
      // DATA
      const id = f.readUInt32BE(0) & 0x7fffffff;
      const type = this.typeOf.get(id);
      if (type === 'stdin' && this.target.stdin) {
        const data = payload.length ? Buffer.from(payload) : undefined;
        if (!this.session) {
          if (data) this.earlyStdin.push(data);
          if (flags & FLAG_FIN) this.earlyStdin.push(null);
          return;
        }
        if (data) this.session.stdinData(data);
        if (flags & FLAG_FIN) this.session.stdinEnd();
      }
      return;
    }
    const type = f.readUInt16BE(2);
    switch (type) {
      case SYN_STREAM: {
        const id = payload.readUInt32BE(0) & 0x7fffffff;
        const headers = decodeHeaderBlock(await this.inflate.process(payload.subarray(10)));
        const st = (headers.get('streamtype')?.[0] ?? '') as StreamType;
        this.lastStreamId = Math.max(this.lastStreamId, id);
        if (!['error', 'stdin', 'stdout', 'stderr', 'resize'].includes(st) || this.streams.has(st)) {
          const rst = Buffer.alloc(8);
          rst.writeUInt32BE(id, 0);
          rst.writeUInt32BE(1, 4); // PROTOCOL_ERROR
          this.write(controlFrame(RST_STREAM, 0, rst));
          return;
        }
        this.streams.set(st, id);
        this.typeOf.set(id, st);
        const block = await this.deflate.process(encodeHeaderBlock({}));
        const reply = Buffer.alloc(4 + block.length);
        reply.writeUInt32BE(id, 0);
        block.copy(reply, 4);
        this.write(controlFrame(SYN_REPLY, 0, reply));
        if (st === 'stdin' && flags & FLAG_FIN) this.earlyStdin.push(null);
        if (!this.session && this.expected().every(s => this.streams.has(s))) this.startSession();
        return;
      }
      case RST_STREAM: {
        const id = payload.readUInt32BE(0) & 0x7fffffff;
        if (this.typeOf.get(id) === 'stdin') this.session?.stdinEnd();
        return;
      }
      case PING:
        this.write(f);
        return;
      case GOAWAY:
        if (!this.finished) this.onGone();
        return;
      default:
        // SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do (no flow control in spdystream)
        return;
    }
  }

  private write(b: Buffer, cb?: () => void) {
    if (this.closed || this.socket.destroyed || !this.socket.writable) {
      cb?.();
      return;
    }
    this.socket.write(b, () => cb?.());
  }

  private startSession() {
    clearTimeout(this.timer);
    const jsonStatus = this.protocol === 'v5.channel.k8s.io' || this.protocol === 'v4.channel.k8s.io';
    const transport: ExecTransport = {
      send: (streamType, data, done) => {
        const id = this.streams.get(streamType === 1 ? 'stdout' : 'stderr');
        if (id === undefined) {
          done();
          return;
        }
        this.write(dataFrameHeader(id, 0, data.length));
        this.write(data, done);
      },
      finish: (status: ExecStatus) => {
        this.finished = true;
        this.socket.resume();
        const errId = this.streams.get('error')!;
        const payload = encodeStatus(status, jsonStatus);
        if (payload.length) this.write(Buffer.concat([dataFrameHeader(errId, 0, payload.length), payload]));
        for (const st of ['stdout', 'stderr', 'error'] as const) {
          const id = this.streams.get(st);
          if (id !== undefined) this.write(dataFrameHeader(id, FLAG_FIN, 0));
        }
        const ga = Buffer.alloc(8);
        ga.writeUInt32BE(this.lastStreamId, 0);
        ga.writeUInt32BE(0, 4); // OK
        this.write(controlFrame(GOAWAY, 0, ga), () => {
          this.socket.end();
          // The output is in the kernel now, but a client that reads slowly may not have it yet.
          // Closing the socket before the client does would answer its next frame (kubectl
          // PINGs every few seconds) with a reset, which discards what the client has not read.
          // So wait for the client to close, as it does once it has read everything.
          setTimeout(() => this.teardown(), FINISH_TIMEOUT_MS).unref();
        });
      },
      pauseInput: () => this.socket.pause(),
      resumeInput: () => this.socket.resume(),
    };
    const session = startExecSession(this.target, transport);
    this.session = session;
    for (const d of this.earlyStdin.splice(0)) {
      if (d) session.stdinData(d);
      else session.stdinEnd();
    }
  }

  private onGone() {
    if (this.closed) return;
    if (!this.finished) {
      this.session?.stdinEnd();
      this.session?.connectionLost();
    }
    this.teardown();
  }

  private teardown() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.inflate.close();
    this.deflate.close();
    this.socket.destroy();
  }
}

export function handleSpdyExec(req: http.IncomingMessage, socket: stream.Duplex, head: Buffer, target: ExecTarget): void {
  const offered = req.headers['x-stream-protocol-version'];
  const protocol = selectSpdyProtocol(offered);
  if (protocol === null) {
    // httpstream.Handshake: 403 with this message
    const msg = `unable to upgrade: unable to negotiate protocol: client supports [${String(offered)
      .split(',')
      .map(s => s.trim())
      .join(' ')}], server supports [${SPDY_PROTOCOLS.join(' ')}]`;
    const body = httpStatusBody(403, 'Forbidden', msg);
    socket.end(
      `HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    return;
  }
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n${
      protocol ? `X-Stream-Protocol-Version: ${protocol}\r\n` : ''
    }\r\n`,
  );
  new SpdyExecConnection(socket, protocol || 'channel.k8s.io', target).start(head);
}
