/*
 * Test harness: a bare http server whose `upgrade` handler calls
 * handleExecUpgrade, plus a client built on the real @kubernetes/client-node Exec.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { Exec, KubeConfig } from '@kubernetes/client-node';
import type { WebSocket } from 'ws';
import { handleExecUpgrade } from '../index';
import type { ExecTarget } from '../types';
import { targetFromRequest, TargetOverrides } from './target';

export type { TargetOverrides } from './target';
export { targetFromRequest } from './target';

export interface Harness {
  port: number;
  url: string;
  /** Settings applied to the next exec requests (mounts, securityContext, onProcess…). */
  overrides: TargetOverrides;
  /** The targets handed to handleExecUpgrade, most recent last. */
  targets: ExecTarget[];
  close(): Promise<void>;
}

export async function startHarness(overrides: TargetOverrides = {}): Promise<Harness> {
  const server = http.createServer((_req, res) => {
    res.writeHead(404).end();
  });
  const h: Harness = {
    port: 0,
    url: '',
    overrides,
    targets: [],
    close: () =>
      new Promise<void>(resolve => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on('upgrade', (req, socket, head) => {
    const target = targetFromRequest(req, h.overrides);
    h.targets.push(target);
    handleExecUpgrade(req, socket, head, target);
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  h.port = (server.address() as AddressInfo).port;
  h.url = `http://127.0.0.1:${h.port}`;
  return h;
}

/** Collects a stream into memory, optionally slowly. */
export class Collector extends Writable {
  chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void) {
    this.chunks.push(Buffer.from(chunk));
    cb();
  }
  get data(): Buffer {
    return Buffer.concat(this.chunks);
  }
  get text(): string {
    return this.data.toString('utf8');
  }
}

export interface ExecResult {
  stdout: Buffer;
  stderr: Buffer;
  status: { status?: string; reason?: string; message?: string; details?: { causes?: Array<{ reason?: string; message?: string }> } } | undefined;
  protocol: string;
}

export function makeKubeConfig(url: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'sim', server: url, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'test-token' }],
    contexts: [{ name: 'sim', cluster: 'sim', user: 'u' }],
    currentContext: 'sim',
  });
  return kc;
}

/** Runs a command through client-node's Exec and waits for the socket to close. */
export async function clientExec(
  url: string,
  command: string[],
  opts: { stdin?: Buffer | Readable; stdout?: Writable; stderr?: Writable; onSocket?: (ws: WebSocket) => void } = {},
): Promise<ExecResult> {
  const exec = new Exec(makeKubeConfig(url));
  const out = opts.stdout ?? new Collector();
  const err = opts.stderr ?? new Collector();
  let stdin: Readable | null = null;
  if (Buffer.isBuffer(opts.stdin)) stdin = Readable.from([opts.stdin]);
  else if (opts.stdin) stdin = opts.stdin;
  let status: ExecResult['status'];
  const ws = (await exec.exec('ns', 'pod', 'main', command, out, err, stdin, false, s => {
    status = s as ExecResult['status'];
  })) as unknown as WebSocket;
  opts.onSocket?.(ws);
  await new Promise<void>(resolve => {
    if (ws.readyState === ws.CLOSED) resolve();
    else ws.on('close', () => resolve());
  });
  return {
    stdout: out instanceof Collector ? out.data : Buffer.alloc(0),
    stderr: err instanceof Collector ? err.data : Buffer.alloc(0),
    status,
    protocol: ws.protocol,
  };
}
