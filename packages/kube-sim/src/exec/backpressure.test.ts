/*
 * Backpressure end to end: `head -c N /dev/zero` is streamed to a slow
 * consumer, over WebSocket (client-node Exec) and over SPDY (kubectl 1.27),
 * while the exec server runs in its own process; the server's RSS must stay
 * bounded (it must not buffer the stream).
 *
 * KUBE_SIM_BP_BYTES sets N (default 1 GiB), KUBE_SIM_BP_RATE the consumer's
 * bytes/s (default 128 MiB/s).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { clientExec } from './__testUtils__/harness';

jest.setTimeout(180_000);

const BYTES = Number(process.env.KUBE_SIM_BP_BYTES ?? 1024 * 1024 * 1024);
const RATE = Number(process.env.KUBE_SIM_BP_RATE ?? 128 * 1024 * 1024);
const MAX_RSS_GROWTH = 64 * 1024 * 1024;

function rssOf(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** A consumer that takes `rate` bytes/s and reports when it is full. */
class SlowSink extends Writable {
  received = 0;
  private readonly started = Date.now();
  constructor(private readonly rate: number) {
    super({ highWaterMark: 1024 * 1024 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void) {
    this.received += chunk.length;
    const due = this.started + (this.received / this.rate) * 1000;
    const wait = due - Date.now();
    if (wait > 1) setTimeout(cb, wait);
    else cb();
  }
}

let server: ChildProcess;
let url: string;
let kubeconfig: string;
let tmp: string;

// A fresh server process per test: RSS never shrinks, so tests must not share one.
beforeEach(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'kube-sim-bp-'));
  server = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '__testUtils__', 'sim-server.ts'), tmp], {
    stdio: ['pipe', 'pipe', 'inherit'],
    cwd: path.join(__dirname, '..', '..'),
  });
  ({ url, kubeconfig } = await new Promise<{ url: string; kubeconfig: string }>((resolve, reject) => {
    let buf = '';
    server.stdout!.on('data', d => {
      buf += d;
      const m = /(\{"url".*\})\n/.exec(buf);
      if (m) resolve(JSON.parse(m[1]));
    });
    server.on('exit', code => reject(new Error(`sim-server exited ${code}`)));
  }));
});

afterEach(() => {
  server?.stdin?.end();
  server?.kill();
  rmSync(tmp, { recursive: true, force: true });
});

/** Samples the server's RSS until stopped; returns baseline and maximum. */
function rssMonitor() {
  const baseline = rssOf(server.pid!).rss;
  let max = baseline;
  const timer = setInterval(() => {
    max = Math.max(max, rssOf(server.pid!).rss);
  }, 20);
  return {
    stop() {
      clearInterval(timer);
      max = Math.max(max, rssOf(server.pid!).rss);
      return { baseline, max, growth: max - baseline };
    },
  };
}

const MiB = (n: number) => (n / 1048576).toFixed(1);

it(`WebSocket (client-node): streams ${BYTES} bytes to a slow consumer with bounded server RSS`, async () => {
  // warm up (JIT, ws, first spawn) before taking the baseline
  const warm = await clientExec(url, ['head', '-c', '4194304', '/dev/zero']);
  expect(warm.stdout.length).toBe(4194304);
  await new Promise(r => setTimeout(r, 200));
  const mon = rssMonitor();

  const sink = new SlowSink(RATE);
  const started = Date.now();
  const r = await clientExec(url, ['head', '-c', String(BYTES), '/dev/zero'], {
    stdout: sink,
    onSocket: ws => {
      // client-node ignores write()'s return value: bridge the sink's backpressure to the socket
      const write = sink.write.bind(sink) as (chunk: Buffer) => boolean;
      (sink as unknown as { write: (c: Buffer) => boolean }).write = (chunk: Buffer) => {
        const ok = write(chunk);
        if (!ok) ws.pause();
        return ok;
      };
      sink.on('drain', () => ws.resume());
    },
  });
  await finished(sink);
  const { baseline, max, growth } = mon.stop();
  const seconds = (Date.now() - started) / 1000;
  // eslint-disable-next-line no-console
  console.log(
    `backpressure (WebSocket, client-node): ${BYTES} bytes in ${seconds.toFixed(1)} s (${(BYTES / seconds / 1048576).toFixed(0)} MiB/s); ` +
      `server RSS baseline ${MiB(baseline)} MiB, max ${MiB(max)} MiB, growth ${MiB(growth)} MiB, VmHWM ${MiB(rssOf(server.pid!).hwm)} MiB`,
  );
  expect(r.status).toEqual({ metadata: {}, status: 'Success' });
  expect(sink.received).toBe(BYTES);
  expect(growth).toBeLessThan(MAX_RSS_GROWTH);
});

it(`SPDY (kubectl 1.27): streams ${BYTES} bytes to a slow consumer with bounded server RSS`, async () => {
  const run = (bytes: number, rate: number) =>
    new Promise<{ code: number | null; received: number; stderr: string }>((resolve, reject) => {
      const p = spawn(
        '/usr/lib/google-cloud-sdk/bin/kubectl.1.27',
        ['--kubeconfig', kubeconfig, '--cache-dir', path.join(tmp, 'cache'), 'exec', 'pod-a', '--', 'head', '-c', String(bytes), '/dev/zero'],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: tmp } },
      );
      let received = 0;
      let stderr = '';
      const started = Date.now();
      p.stdout.on('data', (d: Buffer) => {
        received += d.length;
        const wait = started + (received / rate) * 1000 - Date.now();
        if (wait > 1) {
          p.stdout.pause();
          setTimeout(() => p.stdout.resume(), wait);
        }
      });
      p.stderr.on('data', d => (stderr += d));
      p.on('error', reject);
      p.on('close', code => resolve({ code, received, stderr }));
    });
  const warm = await run(4194304, 1e12);
  expect(warm).toEqual({ code: 0, received: 4194304, stderr: '' });
  await new Promise(r => setTimeout(r, 200));
  const mon = rssMonitor();
  const started = Date.now();
  const r = await run(BYTES, RATE);
  const { baseline, max, growth } = mon.stop();
  const seconds = (Date.now() - started) / 1000;
  // eslint-disable-next-line no-console
  console.log(
    `backpressure (SPDY, kubectl 1.27): ${BYTES} bytes in ${seconds.toFixed(1)} s (${(BYTES / seconds / 1048576).toFixed(0)} MiB/s); ` +
      `server RSS baseline ${MiB(baseline)} MiB, max ${MiB(max)} MiB, growth ${MiB(growth)} MiB`,
  );
  expect(r).toEqual({ code: 0, received: BYTES, stderr: '' });
  expect(growth).toBeLessThan(MAX_RSS_GROWTH);
});
