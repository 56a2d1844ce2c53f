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
function connect(query: string, protocols: string[], opts: { bytesPerSecond?: number; halfOpen?: boolean } = {}) {
  // With halfOpen the server's FIN does not end the client's side, as with a Go client.
  const sock = net.connect({ port: h.port, host: '127.0.0.1', allowHalfOpen: opts.halfOpen ?? false });
  const rate = opts.bytesPerSecond;
  if (rate) {
    // a client whose destination is slow: it reads the socket no faster than `rate`
    const started = Date.now();
    let received = 0;
    sock.on('data', d => {
      received += d.length;
      const wait = started + (received / rate) * 1000 - Date.now();
      if (wait > 1 && !sock.isPaused()) {
        sock.pause();
        setTimeout(() => sock.resume(), wait);
      }
    });
  }
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

  it('hands every stdout and stderr byte to the socket before the Status, then FINs, then GOAWAY', async () => {
    // 32 MiB of stdout around 1 MiB of stderr, to a client that reads 32 MiB/s: the command
    // blocks on its full pipes, and when it exits its last output is still in kube-sim's buffers.
    const script = 'yes 0123456789abcdef | head -c 16777216; yes err | head -c 1048576 >&2; yes tail | head -c 16777216; exit 7';
    const c = connect(`command=sh&command=-c&command=${encodeURIComponent(script)}&stdout=true&stderr=true`, ['v4.channel.k8s.io'], {
      bytesPerSecond: 32 * 1024 * 1024,
    });
    await c.until(() => c.head() !== undefined);
    const deflate = newDeflate();
    c.sock.write(await synStream(deflate, 1, 'error'));
    c.sock.write(await synStream(deflate, 3, 'stdout'));
    c.sock.write(await synStream(deflate, 5, 'stderr'));
    await c.until(() => c.closed());

    const dataFrames = c.frames.filter(f => !f.control);
    const statusAt = dataFrames.findIndex(f => f.streamId === 1 && f.payload.length > 0);
    const lastOutputAt = Math.max(...[3, 5].map(id => dataFrames.map(f => f.streamId === id && f.payload.length > 0).lastIndexOf(true)));
    const finAt = (id: number) => dataFrames.findIndex(f => f.streamId === id && f.flags & 1);
    expect(lastOutputAt).toBeLessThan(statusAt);
    // after the Status only the empty FIN frames, one per stream
    expect(dataFrames.slice(statusAt + 1).map(f => [f.streamId, f.flags, f.payload.length])).toEqual([
      [3, 1, 0],
      [5, 1, 0],
      [1, 1, 0],
    ]);
    expect([finAt(3), finAt(5), finAt(1)].every(i => i > statusAt)).toBe(true);
    expect(c.frames[c.frames.length - 1].type).toBe(7); // GOAWAY last
    expect(JSON.parse(dataFrames[statusAt].payload.toString()).details).toEqual({ causes: [{ reason: 'ExitCode', message: '7' }] });

    const expected = (line: string, n: number) => line.repeat(Math.ceil(n / line.length)).slice(0, n);
    const body = (id: number) => Buffer.concat(dataFrames.filter(f => f.streamId === id).map(f => f.payload)).toString();
    const stdout = body(3);
    expect(stdout.length).toBe(33554432);
    expect(stdout === expected('0123456789abcdef\n', 16777216) + expected('tail\n', 16777216)).toBe(true);
    expect(body(5) === expected('err\n', 1048576)).toBe(true);
  });

  it('keeps the connection after GOAWAY until the client closes it, so a late PING is not reset', async () => {
    // Closing first would answer the client's next frame with a TCP reset, and a reset makes
    // the client's kernel discard the output it has not read yet.
    const c = connect('command=true&stdout=true', ['v4.channel.k8s.io'], { halfOpen: true });
    const errors: string[] = [];
    c.sock.on('error', e => errors.push((e as NodeJS.ErrnoException).code ?? e.message));
    await c.until(() => c.head() !== undefined);
    const deflate = newDeflate();
    c.sock.write(await synStream(deflate, 1, 'error'));
    c.sock.write(await synStream(deflate, 3, 'stdout'));
    await c.until(() => c.frames.some(f => f.control && f.type === 7));
    await new Promise(r => setTimeout(r, 6000)); // longer than kube-sim used to wait
    const ping = Buffer.alloc(4);
    ping.writeUInt32BE(9);
    c.sock.write(control(6, 0, ping));
    await new Promise(r => setTimeout(r, 500));
    c.sock.write(control(6, 0, ping));
    await new Promise(r => setTimeout(r, 500));
    expect(errors).toEqual([]);
    expect(c.closed()).toBe(false);
    c.sock.end();
    await c.until(() => c.closed());
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
