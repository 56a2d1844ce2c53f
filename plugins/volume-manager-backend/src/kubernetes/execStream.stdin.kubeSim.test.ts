/*
 * execStream's stdin against kube-sim's real exec: a sandboxed process reading what we send over
 * HTTPS/WebSocket, on v5.channel.k8s.io (CLOSE ends stdin) and v4.channel.k8s.io (no half-close,
 * the command bounds its read). Byte-exact, backpressure with a slow reader, the failure paths.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { startKubeSim, type KubeSim } from '@nkvm/kube-sim';
import { compareTrees, generateFileTree } from '@nkvm/kube-sim/src/files';
import type { V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { createClusterClient, type ClusterClient } from './ClusterClient';
import { execStream, ExecFailedError, type ExecStreamOptions } from './execStream';
import { kubeConfigFromString } from './kubeConfigs';
import { createPod, getPod } from './pods';

jest.setTimeout(180_000);

const NS = 'restore';
const MiB = 1024 * 1024;
const V5 = ['v5.channel.k8s.io'];
const V4 = ['v4.channel.k8s.io'];

/**
 * `total` pseudo-random bytes in chunks of `chunk`, hashed as they are produced (independently
 * of what execStream reports). Counts what was pulled from it, like a download would.
 */
function randomSource(total: number, options: { chunk?: number; failAfter?: number } = {}) {
  const size = options.chunk ?? 64 * 1024;
  const hash = createHash('sha256');
  let produced = 0;
  const block = randomBytes(size);
  const stream = new Readable({
    highWaterMark: size,
    read() {
      if (options.failAfter !== undefined && produced >= options.failAfter) {
        this.destroy(new Error('the SFTP server reset the connection'));
        return;
      }
      if (produced >= total) {
        this.push(null);
        return;
      }
      // a fresh buffer per chunk (a source may not reuse what it pushed); varied content
      const chunk = Buffer.allocUnsafe(Math.min(size, total - produced));
      block.copy(chunk);
      if (chunk.length >= 8) chunk.writeDoubleBE(produced, 0);
      hash.update(chunk);
      produced += chunk.length;
      this.push(chunk);
    },
  });
  return { stream, produced: () => produced, digest: () => hash.digest('hex') };
}

/** Samples RSS every 50 ms; `peak()` is the most it grew above the start. */
function rssMonitor() {
  const start = process.memoryUsage().rss;
  let max = start;
  const timer = setInterval(() => {
    max = Math.max(max, process.memoryUsage().rss);
  }, 50);
  return {
    stop: () => clearInterval(timer),
    peakGrowth: () => max - start,
  };
}

/** A TCP relay to the API server whose connections the test can cut. */
async function cuttableRelay(target: URL) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer(client => {
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    cut: () => sockets.forEach(s => s.destroy()),
    close: () => {
      sockets.forEach(s => s.destroy());
      return new Promise(resolve => server.close(resolve));
    },
  };
}

let sim: KubeSim;
let client: ClusterClient;
let pvDir: string;
let tmp: string;
const podName = 'restore-helper';

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'nkvm-exec-stdin-'));
  sim = await startKubeSim({
    fixture: {
      nodes: [{ name: 'node-a' }],
      namespaces: [{ name: NS }],
      persistentVolumeClaims: [{ name: 'target', namespace: NS, accessModes: ['ReadWriteOnce'], size: '1Gi' }],
    },
    generateFiles: false,
  });
  client = createClusterClient('sim', kubeConfigFromString(sim.kubeconfig));
  const pvc = await client.get<V1PersistentVolumeClaim>('persistentvolumeclaims', NS, 'target');
  pvDir = sim.pvDir(pvc.spec!.volumeName!);
  mkdirSync(pvDir, { recursive: true });
  await createPod(client, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: podName, namespace: NS },
    spec: {
      containers: [
        {
          name: 'restore',
          image: 'alpine:3.20',
          command: ['sleep', 'infinity'],
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
        },
      ],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'target' } }],
    },
  });
  for (let i = 0; ; i++) {
    const pod = await getPod(client, NS, podName);
    if ((pod as V1Pod).status?.phase === 'Running') break;
    if (i > 100) throw new Error('the helper pod never ran');
    await new Promise(r => setTimeout(r, 50));
  }
});

afterAll(async () => {
  await sim?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const base = (over: Partial<ExecStreamOptions>): ExecStreamOptions => ({
  namespace: NS,
  pod: podName,
  container: 'restore',
  command: ['cat'],
  idleTimeoutMs: 30_000,
  deadlineMs: 170_000,
  ...over,
});

describe.each([
  ['v5.channel.k8s.io', V5, () => ['sha256sum']],
  ['v4.channel.k8s.io', V4, (n: number) => ['sh', '-c', `head -c ${n} | sha256sum`]],
])('stdin over %s', (name, protocols, hashCommand) => {
  it('delivers 256 MiB byte-exact to sha256sum in the pod, with flat memory', async () => {
    const total = 256 * MiB;
    const source = randomSource(total);
    let counted = 0;
    const rss = rssMonitor();
    const started = Date.now();
    const result = await execStream(client, base({
      command: hashCommand(total),
      protocols,
      stdin: source.stream,
      onStdinChunk: chunk => {
        counted += chunk.length;
      },
    })).finally(() => rss.stop());
    const seconds = (Date.now() - started) / 1000;
    // figures for the report (the console is where a reviewer reads them)
    console.log(`${name}: 256 MiB into sha256sum in ${seconds.toFixed(1)}s (${(256 / seconds).toFixed(0)} MiB/s), RSS grew at most ${(rss.peakGrowth() / MiB).toFixed(1)} MiB`);
    expect(result.protocol).toBe(name);
    expect(result.stdinBytes).toBe(total);
    expect(counted).toBe(total);
    expect(result.stdout).toBe(`${source.digest()}  -\n`);
    // kube-sim runs in this process too; without backpressure the 256 MiB would pile up here
    expect(rss.peakGrowth()).toBeLessThan(96 * MiB);
  });

  it('reads a non-zero exit status after the input ended, with stderr in the message', async () => {
    const error = await execStream(client, base({
      command: ['sh', '-c', 'head -c 100000 >/dev/null; echo "tar: Unexpected EOF in archive" >&2; exit 2'],
      protocols,
      stdin: Readable.from([randomBytes(100_000)]),
    })).catch(e => e);
    expect(error).toBeInstanceOf(ExecFailedError);
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(/exited with code 2: tar: Unexpected EOF in archive$/);
  });

  it('reads the exit status of a command that stops reading early, while input is still coming', async () => {
    const source = randomSource(512 * MiB);
    const error = await execStream(client, base({
      command: ['sh', '-c', 'head -c 1000 >/dev/null; exit 7'],
      protocols,
      stdin: source.stream,
    })).catch(e => e);
    expect(error).toBeInstanceOf(ExecFailedError);
    expect(error.exitCode).toBe(7);
    expect(source.produced()).toBeLessThan(64 * MiB);
    expect(source.stream.destroyed).toBe(true);
  });

  it('extracts a real tar.gz into the writable volume, tree identical to the original', async () => {
    const original = path.join(tmp, `tree-${name}`);
    await generateFileTree({ seed: 21, files: 40, totalBytes: 6 * MiB, compressibility: 0.5, depth: 3, oddities: true }, original);
    const archive = path.join(tmp, `tree-${name}.tar.gz`);
    writeFileSync(archive, execFileSync('tar', ['-czf', '-', '-C', original, '.'], { maxBuffer: 256 * MiB }));
    const size = statSync(archive).size;
    const into = `/data/${name}`;
    const extract = protocols === V5 ? `tar -xzf - -C ${into}` : `head -c ${size} | tar -xzf - -C ${into}`;
    const result = await execStream(client, base({
      command: ['sh', '-c', `mkdir -p ${into} && ${extract}`],
      protocols,
      stdin: createReadStream(archive),
    }));
    expect(result.stdinBytes).toBe(size);
    expect(await compareTrees(original, path.join(pvDir, name))).toEqual([]);
  });
});

describe('stdin over v4.channel.k8s.io without a bounded read', () => {
  it('never reaches EOF, so an unbounded reader ends only by the idle timeout (why commands must bound it)', async () => {
    const started = Date.now();
    const error = await execStream(client, base({
      command: ['sha256sum'],
      protocols: V4,
      stdin: Readable.from([Buffer.from('hello')]),
      idleTimeoutMs: 2000,
    })).catch(e => e);
    expect(error).toBeInstanceOf(ExecFailedError);
    expect(error.message).toBe('No data from the helper pod for 2s');
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
  });
});

describe('stdin backpressure and failures', () => {
  it('pulls only what the socket takes while the pod does not read, and keeps memory flat', async () => {
    const source = randomSource(96 * MiB);
    const rss = rssMonitor();
    let pulledDuringSleep = 0;
    const sampler = setTimeout(() => {
      pulledDuringSleep = source.produced();
    }, 2500);
    const started = Date.now();
    await execStream(client, base({
      command: ['sh', '-c', 'sleep 3; cat >/dev/null'],
      protocols: V5,
      stdin: source.stream,
      idleTimeoutMs: 10_000,
      stallTimeoutMs: 10_000,
    })).finally(() => {
      rss.stop();
      clearTimeout(sampler);
    });
    console.log(`slow reader: ${(pulledDuringSleep / MiB).toFixed(1)} MiB pulled while the pod slept; RSS grew at most ${(rss.peakGrowth() / MiB).toFixed(1)} MiB`);
    expect(source.produced()).toBe(96 * MiB);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    // socket buffers, kube-sim's pipe to the child and a few frames, not the 96 MiB
    expect(pulledDuringSleep).toBeLessThan(24 * MiB);
    expect(rss.peakGrowth()).toBeLessThan(64 * MiB);
  });

  it('fails with a clear message when the pod stops reading for stallTimeoutMs', async () => {
    const source = randomSource(256 * MiB);
    const started = Date.now();
    const error = await execStream(client, base({
      command: ['sh', '-c', 'sleep 60'],
      protocols: V5,
      stdin: source.stream,
      idleTimeoutMs: 60_000,
      stallTimeoutMs: 1500,
    })).catch(e => e);
    expect(error).toBeInstanceOf(ExecFailedError);
    expect(error.message).toBe("The pod took no input for 2s: the API server or 'sh -c sleep 60' stopped reading");
    expect(Date.now() - started).toBeLessThan(8000);
    expect(source.stream.destroyed).toBe(true);
  });

  it('fails when the input stream fails, with its error as the cause', async () => {
    const source = randomSource(64 * MiB, { failAfter: 8 * MiB });
    const error = await execStream(client, base({
      command: ['sh', '-c', 'cat > /data/partial'],
      protocols: V5,
      stdin: source.stream,
    })).catch(e => e);
    expect(error).toBeInstanceOf(ExecFailedError);
    expect(error.message).toBe("Reading the input for 'sh -c cat > /data/partial' failed: the SFTP server reset the connection");
    expect(error.cause).toBeInstanceOf(Error);
    expect((error.cause as Error).message).toBe('the SFTP server reset the connection');
  });

  it('stops promptly when cancelled mid-stream and releases the source', async () => {
    const source = randomSource(1024 * MiB);
    const controller = new AbortController();
    let aborted = 0;
    const done = execStream(client, base({
      command: ['sh', '-c', 'cat >/dev/null'],
      protocols: V5,
      stdin: source.stream,
      signal: controller.signal,
      onStdinChunk: () => {
        if (!aborted && source.produced() > 16 * MiB) {
          aborted = Date.now();
          controller.abort(new Error('The restore was cancelled'));
        }
      },
    })).catch(e => e);
    const error = await done;
    expect(error).toBeInstanceOf(ExecFailedError);
    expect(error.message).toBe('The restore was cancelled');
    expect(Date.now() - aborted).toBeLessThan(500);
    expect(source.stream.destroyed).toBe(true);
    expect(source.produced()).toBeLessThan(64 * MiB);
  });

  it('fails when the connection is cut mid-stream', async () => {
    const relay = await cuttableRelay(new URL(sim.url));
    try {
      const viaRelay = createClusterClient('relay', kubeConfigFromString(sim.kubeconfig.replace(sim.url, `https://127.0.0.1:${relay.port}`)));
      const source = randomSource(1024 * MiB);
      let cut = false;
      const error = await execStream(viaRelay, base({
        command: ['sh', '-c', 'cat >/dev/null'],
        protocols: V5,
        stdin: source.stream,
        onStdinChunk: () => {
          if (!cut && source.produced() > 16 * MiB) {
            cut = true;
            relay.cut();
          }
        },
      })).catch(e => e);
      expect(cut).toBe(true);
      expect(error).toBeInstanceOf(ExecFailedError);
      expect(error.message).toMatch(/^The exec stream (broke: |closed without an exit status)/);
      expect(source.stream.destroyed).toBe(true);
    } finally {
      await relay.close();
    }
  });
});
