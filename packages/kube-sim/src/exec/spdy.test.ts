/*
 * SPDY/3.1 framing details, checked with a minimal hand-written client (the
 * real kubectl binaries are exercised in kubectl.test.ts).
 */
import { readdir, readFile } from 'node:fs/promises';
import * as net from 'node:net';
import * as zlib from 'node:zlib';
import { decodeHeaderBlock, encodeHeaderBlock, ZContext } from './spdy';
import { SPDY3_DICTIONARY } from './spdy-dictionary';
import { Harness, startHarness } from './__testUtils__/harness';

jest.setTimeout(30_000);

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

interface Frame {
  control: boolean;
  type: number; // control type, or 0 for DATA
  streamId: number;
  flags: number;
  payload: Buffer;
}

function parseFrames(buf: Buffer): { frames: Frame[]; rest: Buffer } {
  const frames: Frame[] = [];
  let off = 0;
  while (buf.length - off >= 8) {
    const len = buf.readUInt32BE(off + 4) & 0xffffff;
    if (buf.length - off < 8 + len) break;
    const isControl = (buf[off] & 0x80) !== 0;
    const payload = buf.subarray(off + 8, off + 8 + len);
    let streamId = buf.readUInt32BE(off) & 0x7fffffff;
    if (isControl) streamId = len >= 4 ? payload.readUInt32BE(0) & 0x7fffffff : 0;
    frames.push({
      control: isControl,
      type: isControl ? buf.readUInt16BE(off + 2) : 0,
      streamId,
      flags: buf[off + 4],
      payload,
    });
    off += 8 + len;
  }
  return { frames, rest: buf.subarray(off) };
}

function control(type: number, flags: number, payload: Buffer): Buffer {
  const f = Buffer.alloc(8 + payload.length);
  f.writeUInt16BE(0x8003, 0);
  f.writeUInt16BE(type, 2);
  f.writeUInt32BE((flags << 24) | payload.length, 4);
  payload.copy(f, 8);
  return f;
}

function data(streamId: number, flags: number, payload: Buffer): Buffer {
  const f = Buffer.alloc(8 + payload.length);
  f.writeUInt32BE(streamId, 0);
  f.writeUInt32BE((flags << 24) | payload.length, 4);
  payload.copy(f, 8);
  return f;
}

/** Opens an upgraded SPDY connection; resolves with the response head and a frame reader. */
function connect(query: string, protocols: string[]) {
  const sock = net.connect(h.port, '127.0.0.1');
  let buf = Buffer.alloc(0);
  let head: string | undefined;
  const frames: Frame[] = [];
  let closed = false;
  const waiters: Array<() => void> = [];
  const notify = () => waiters.splice(0).forEach(w => w());
  sock.on('data', d => {
    buf = Buffer.concat([buf, d]);
    if (head === undefined) {
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      head = buf.subarray(0, i).toString();
      buf = buf.subarray(i + 4);
    }
    const r = parseFrames(buf);
    frames.push(...r.frames);
    buf = r.rest;
    notify();
  });
  sock.on('close', () => {
    closed = true;
    notify();
  });
  sock.write(
    `POST /api/v1/namespaces/ns/pods/p/exec?${query} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n${protocols
      .map(p => `X-Stream-Protocol-Version: ${p}\r\n`)
      .join('')}Content-Length: 0\r\n\r\n`,
  );
  const until = (pred: () => boolean) =>
    new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timeout; frames: ${JSON.stringify(frames.map(f => [f.type, f.streamId, f.flags]))}`)), 10_000);
      const check = () => {
        if (pred()) {
          clearTimeout(t);
          resolve();
        } else waiters.push(check);
      };
      check();
    });
  return { sock, frames, head: () => head, closed: () => closed, until, raw: () => buf };
}

async function synStream(deflate: ZContext, id: number, streamType: string, flags = 0): Promise<Buffer> {
  const block = await deflate.process(encodeHeaderBlock({ streamType }));
  const p = Buffer.alloc(10 + block.length);
  p.writeUInt32BE(id, 0);
  block.copy(p, 10);
  return control(1, flags, p);
}

const newDeflate = () => new ZContext(zlib.createDeflate({ dictionary: SPDY3_DICTIONARY }), () => undefined);
const newInflate = () => new ZContext(zlib.createInflate({ dictionary: SPDY3_DICTIONARY }), () => undefined);

describe('exec over SPDY/3.1', () => {
  it('negotiates, replies to every stream, echoes PING, streams data and ends with Status, FINs and GOAWAY', async () => {
    const c = connect('command=sh&command=-c&command=echo+hi%3B+cat+%3E%262%3B+exit+5&stdin=true&stdout=true&stderr=true', [
      'v9.channel.k8s.io',
      'v4.channel.k8s.io',
      'v3.channel.k8s.io',
    ]);
    await c.until(() => c.head() !== undefined);
    expect(c.head()).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(c.head()).toMatch(/\r\nUpgrade: SPDY\/3\.1(\r\n|$)/);
    expect(c.head()).toMatch(/\r\nX-Stream-Protocol-Version: v4\.channel\.k8s\.io(\r\n|$)/);

    const deflate = newDeflate();
    c.sock.write(await synStream(deflate, 1, 'error'));
    c.sock.write(await synStream(deflate, 3, 'stdin'));
    c.sock.write(await synStream(deflate, 5, 'stdout'));
    const ping = Buffer.alloc(4);
    ping.writeUInt32BE(7);
    c.sock.write(control(6, 0, ping));
    c.sock.write(control(9, 0, Buffer.from([0, 0, 0, 5, 0, 1, 0, 0]))); // WINDOW_UPDATE: ignored
    c.sock.write(await synStream(deflate, 7, 'stderr'));
    c.sock.write(data(3, 0, Buffer.from('to stderr via stdin\n')));
    c.sock.write(data(3, 1, Buffer.alloc(0))); // FIN on stdin
    await c.until(() => c.closed());

    const replies = c.frames.filter(f => f.control && f.type === 2);
    expect(replies.map(f => f.streamId)).toEqual([1, 3, 5, 7]);
    const inflate = newInflate();
    for (const r of replies) expect(decodeHeaderBlock(await inflate.process(r.payload.subarray(4))).size).toBe(0);
    expect(c.frames.filter(f => f.control && f.type === 6).map(f => f.payload.readUInt32BE(0))).toEqual([7]);

    const body = (id: number) => Buffer.concat(c.frames.filter(f => !f.control && f.streamId === id).map(f => f.payload)).toString();
    const fin = (id: number) => c.frames.some(f => !f.control && f.streamId === id && f.flags & 1);
    expect(body(5)).toBe('hi\n');
    expect(body(7)).toBe('to stderr via stdin\n');
    expect(JSON.parse(body(1))).toEqual({
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: error executing command [sh -c echo hi; cat >&2; exit 5], exit code 5',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '5' }] },
    });
    expect([fin(1), fin(5), fin(7), fin(3)]).toEqual([true, true, true, false]);
    const goaway = c.frames.filter(f => f.control && f.type === 7);
    expect(goaway).toHaveLength(1);
    expect(c.frames[c.frames.length - 1]).toBe(goaway[0]);
    expect(goaway[0].payload.readUInt32BE(4)).toBe(0);
  });

  it('sends only the failure message on the error stream for channel.k8s.io', async () => {
    const c = connect('command=false&stdout=true', ['channel.k8s.io']);
    await c.until(() => c.head() !== undefined);
    expect(c.head()).toMatch(/\r\nX-Stream-Protocol-Version: channel\.k8s\.io(\r\n|$)/);
    const deflate = newDeflate();
    c.sock.write(await synStream(deflate, 1, 'error'));
    c.sock.write(await synStream(deflate, 3, 'stdout'));
    await c.until(() => c.closed());
    const errData = c.frames.filter(f => !f.control && f.streamId === 1 && f.payload.length);
    expect(errData.map(f => f.payload.toString())).toEqual(['command terminated with non-zero exit code: error executing command [false], exit code 1']);
  });

  it('refuses a protocol it does not speak with 403, as httpstream.Handshake does', async () => {
    const c = connect('command=true', ['v99.channel.k8s.io']);
    await c.until(() => c.closed());
    expect(c.head()).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    const status = JSON.parse(c.raw().toString());
    expect(status).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403 });
    expect(status.message).toBe(
      'unable to upgrade: unable to negotiate protocol: client supports [v99.channel.k8s.io], server supports [v5.channel.k8s.io v4.channel.k8s.io v3.channel.k8s.io v2.channel.k8s.io channel.k8s.io]',
    );
  });

  it('kills the command when the client drops the connection', async () => {
    let kill: (() => void) | undefined;
    h.overrides = { onProcess: k => (kill = k) };
    process.env.KUBE_SIM_EXEC_ORPHAN_GRACE_MS = '100';
    const secs = `${30 + (process.pid % 1000)}.75`;
    const c = connect(`command=sleep&command=${secs}&stdout=true`, ['v4.channel.k8s.io']);
    await c.until(() => c.head() !== undefined);
    const deflate = newDeflate();
    c.sock.write(await synStream(deflate, 1, 'error'));
    c.sock.write(await synStream(deflate, 3, 'stdout'));
    await c.until(() => c.frames.filter(f => f.type === 2).length === 2);
    await new Promise(r => setTimeout(r, 200));
    expect(kill).toBeDefined();
    const target = h.targets[h.targets.length - 1];
    expect(target.command).toEqual(['sleep', secs]);
    c.sock.destroy();
    await new Promise(r => setTimeout(r, 600));
    delete process.env.KUBE_SIM_EXEC_ORPHAN_GRACE_MS;
    h.overrides = {};
    let alive = false;
    for (const pid of await readdir('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmd === `sleep\u0000${secs}\u0000`) alive = true;
    }
    expect(alive).toBe(false);
  });
});
