/*
 * A client that stops reading near the end of a command must still get all of its output and
 * the Status. ws destroys a socket 30 s after close(), with whatever is still queued in it, so
 * kube-sim closes only once the output and the Status are in the kernel.
 *
 * Backpressure is switched off here (KUBE_SIM_EXEC_HIGH_WATER), so that the command exits at
 * once and its output waits in kube-sim's socket, whatever the kernel's buffers hold.
 */
import { WebSocket } from 'ws';
import type { Harness } from './__testUtils__/harness';

jest.setTimeout(120_000);

let h: Harness;
beforeAll(async () => {
  process.env.KUBE_SIM_EXEC_HIGH_WATER = String(1e11);
  // loaded after the variable is set, as channels.ts reads it once
  let load: typeof import('./__testUtils__/harness') | undefined;
  jest.isolateModules(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports, global-require
    load = require('./__testUtils__/harness');
  });
  h = await load!.startHarness();
});
afterAll(async () => {
  delete process.env.KUBE_SIM_EXEC_HIGH_WATER;
  await h?.close();
});

it.each(['v5.channel.k8s.io', 'v4.channel.k8s.io'])(
  'over %s, a client that reads nothing for 35 s after the first output still gets all of it and the Status',
  async protocol => {
    const bytes = 32 * 1024 * 1024;
    const r = await new Promise<{ code: number; received: number; status: string; pausedMs: number }>((resolve, reject) => {
      const ws = new WebSocket(`${h.url.replace('http', 'ws')}/exec?command=head&command=-c&command=${bytes}&command=/dev/zero&stdout=true`, [protocol]);
      let received = 0;
      let status = '';
      let pausedAt = 0;
      let pausedMs = 0;
      ws.on('message', (d: Buffer) => {
        if (d[0] === 1) received += d.length - 1;
        if (d[0] === 3) status = d.subarray(1).toString();
        if (received > 0 && !pausedAt) {
          pausedAt = Date.now();
          ws.pause();
          setTimeout(() => {
            pausedMs = Date.now() - pausedAt;
            ws.resume();
          }, 35_000);
        }
      });
      ws.on('error', reject);
      ws.on('close', code => resolve({ code, received, status, pausedMs }));
    });
    expect(r.pausedMs).toBeGreaterThanOrEqual(35_000);
    expect(r.received).toBe(bytes);
    expect(r.status).toBe('{"metadata":{},"status":"Success"}');
    expect(r.code).toBe(1000);
  },
);
