/*
 * The exec client against a plain `ws` server standing in for an API server, for what kube-sim
 * never does on its own: fragmented messages, pings, odd protocols and rejected upgrades. The
 * happy path against kube-sim's real exec is covered by the backup tests.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable, Writable } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';
import { WebSocketServer, type WebSocket } from 'ws';
import { createClusterClient } from './ClusterClient';
import { execStream, ExecFailedError } from './execStream';
import { KubernetesApiError } from './errors';

type Handler = (ws: WebSocket, req: http.IncomingMessage) => void;

/** A KubeConfig whose only cluster `name` is at `server`, with a bearer token. */
function kubeConfigFor(name: string, server: string, token = 't'): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name, server, skipTLSVerify: true }],
    users: [{ name: 'u', token }],
    contexts: [{ name, cluster: name, user: 'u' }],
    currentContext: name,
  });
  return kc;
}

async function fakeApiServer(options: { onExec?: Handler; reject?: { code: number; body: string }; protocol?: string }) {
  const server = http.createServer();
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: protocols => options.protocol ?? [...protocols][0],
  });
  const requests: http.IncomingMessage[] = [];
  server.on('upgrade', (req, socket, head) => {
    requests.push(req);
    if (options.reject) {
      const { code, body } = options.reject;
      socket.end(`HTTP/1.1 ${code} ${http.STATUS_CODES[code]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, ws => options.onExec?.(ws, req));
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const kc = kubeConfigFor('fake', `http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'secret-token');
  return {
    client: createClusterClient('fake', kc),
    requests,
    close: () => new Promise(resolve => server.close(resolve)),
  };
}

const status = (s: object) => Buffer.concat([Buffer.from([3]), Buffer.from(JSON.stringify(s))]);

function collector() {
  const chunks: Buffer[] = [];
  const destination = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _e, cb) {
      chunks.push(Buffer.from(chunk));
      setTimeout(cb, 1); // a slowish sink, so the socket gets paused
    },
  });
  return { destination, bytes: () => Buffer.concat(chunks) };
}

const base = { namespace: 'ns', pod: 'helper', container: 'tar', command: ['tar', '-czf', '-', '.'], idleTimeoutMs: 10_000, deadlineMs: 30_000 };

describe('execStream', () => {
  let close: (() => Promise<unknown>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it('streams fragmented stdout through pings, answers them, and succeeds on a Success status', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    let pongs = 0;
    const fake = await fakeApiServer({
      onExec: ws => {
        ws.on('pong', () => pongs++);
        ws.send(Buffer.from([1]));
        for (let offset = 0; offset < data.length; offset += 100_000) {
          const part = data.subarray(offset, offset + 100_000);
          // each part is one message sent as two fragments, with a ping in between
          ws.send(Buffer.concat([Buffer.from([1]), part.subarray(0, 1000)]), { fin: false });
          ws.ping('are you there');
          ws.send(part.subarray(1000), { fin: true });
        }
        ws.send(Buffer.concat([Buffer.from([2]), Buffer.from('tar: removing leading /\n')]));
        ws.send(status({ metadata: {}, status: 'Success' }), () => ws.close(1000));
      },
    });
    close = fake.close;
    const sink = collector();
    const hashed: number[] = [];
    const result = await execStream(fake.client, { ...base, destination: sink.destination, onChunk: c => hashed.push(c.length) });
    await new Promise(resolve => sink.destination.end(resolve));
    expect(sink.bytes().equals(data)).toBe(true);
    expect(hashed.reduce((a, b) => a + b, 0)).toBe(data.length);
    expect(result.stderr).toContain('removing leading');
    expect(pongs).toBeGreaterThan(0);
    const req = fake.requests[0];
    expect(req.headers.authorization).toBe('Bearer secret-token');
    expect(req.url).toBe('/api/v1/namespaces/ns/pods/helper/exec?command=tar&command=-czf&command=-&command=.&container=tar&stdout=true&stderr=true');
    expect(req.headers['sec-websocket-protocol']).toBe('v5.channel.k8s.io, v4.channel.k8s.io');
  });

  it('stops reading while the destination is full, so a slow sink does not buffer the stream', async () => {
    const data = randomBytes(16 * 1024 * 1024);
    const fake = await fakeApiServer({
      onExec: ws => {
        for (let offset = 0; offset < data.length; offset += 64 * 1024) {
          ws.send(Buffer.concat([Buffer.from([1]), data.subarray(offset, offset + 64 * 1024)]));
        }
        ws.send(status({ status: 'Success' }), () => ws.close(1000));
      },
    });
    close = fake.close;
    let received = 0;
    let maxBuffered = 0;
    const destination = new Writable({
      highWaterMark: 256 * 1024,
      write(chunk: Buffer, _e, cb) {
        received += chunk.length;
        maxBuffered = Math.max(maxBuffered, destination.writableLength);
        setTimeout(cb, 2); // about 100 MB/s at most, far slower than loopback
      },
    });
    await execStream(fake.client, { ...base, destination });
    await new Promise(resolve => destination.end(resolve));
    expect(received).toBe(data.length);
    // without backpressure nearly all 16 MiB would queue in the destination
    expect(maxBuffered).toBeLessThan(2 * 1024 * 1024);
  });

  it('fails with the exit code and stderr on a NonZeroExitCode status', async () => {
    const fake = await fakeApiServer({
      onExec: ws => {
        ws.send(Buffer.concat([Buffer.from([2]), Buffer.from('tar: /data: Cannot open')]));
        ws.send(
          status({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '2' }] } }),
          () => ws.close(1000),
        );
      },
    });
    close = fake.close;
    const error = await execStream(fake.client, { ...base, destination: collector().destination }).catch(e => e);
    expect(error).toBeInstanceOf(ExecFailedError);
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(/exited with code 2: tar: \/data: Cannot open/);
  });

  it('fails when the stream closes without a status, however much arrived', async () => {
    const fake = await fakeApiServer({
      onExec: ws => ws.send(Buffer.concat([Buffer.from([1]), randomBytes(50_000)]), () => ws.terminate()),
    });
    close = fake.close;
    await expect(execStream(fake.client, { ...base, destination: collector().destination })).rejects.toThrow(
      /closed without an exit status/,
    );
  });

  it('refuses an endless status message instead of buffering it', async () => {
    const fake = await fakeApiServer({
      onExec: ws => {
        ws.send(Buffer.concat([Buffer.from([3]), Buffer.from('{"status":"')]), { fin: false });
        const more = () => {
          if (ws.readyState === ws.OPEN) ws.send(Buffer.alloc(16 * 1024, 'a'), { fin: false }, () => setImmediate(more));
        };
        more();
      },
    });
    close = fake.close;
    await expect(execStream(fake.client, { ...base, destination: collector().destination })).rejects.toThrow(
      /The exec stream broke: The API server sent an exec status larger than 65536 bytes/,
    );
  });

  it('refuses a protocol without an exit status channel', async () => {
    const fake = await fakeApiServer({ protocol: 'channel.k8s.io', onExec: () => {} });
    close = fake.close;
    await expect(execStream(fake.client, { ...base, destination: collector().destination })).rejects.toThrow(
      /chose exec protocol 'channel.k8s.io'/,
    );
  });

  it.each([
    [403, /RBAC gap: .* may not create pods\/exec in namespace 'ns'/],
    [404, /pods "helper" not found/],
  ])('turns a %i upgrade response into a KubernetesApiError with the cluster\'s message', async (code, message) => {
    const body = JSON.stringify({ kind: 'Status', status: 'Failure', message: 'pods "helper" not found', code });
    const fake = await fakeApiServer({ reject: { code, body } });
    close = fake.close;
    const error = await execStream(fake.client, { ...base, destination: collector().destination }).catch(e => e);
    expect(error).toBeInstanceOf(KubernetesApiError);
    expect(error.clusterStatusCode).toBe(code);
    expect(error.message).toMatch(message);
  });

  it('reports an unreachable API server as a KubernetesApiError', async () => {
    const kc = kubeConfigFor('down', 'http://127.0.0.1:1');
    const error = await execStream(createClusterClient('down', kc), { ...base, destination: collector().destination }).catch(e => e);
    expect(error).toBeInstanceOf(KubernetesApiError);
    expect(error.message).toMatch(/Cluster 'down' is unreachable at http:\/\/127.0.0.1:1/);
  });

  it('stops at once when aborted', async () => {
    const fake = await fakeApiServer({ onExec: ws => ws.send(Buffer.from([1])) });
    close = fake.close;
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await expect(
      execStream(fake.client, { ...base, destination: collector().destination, signal: controller.signal }),
    ).rejects.toThrow(/cancelled/);
  });

  it('fails when the destination stays full for stallTimeoutMs while the stream is paused', async () => {
    // The pod keeps output ready (and the connection open), the destination takes one chunk and
    // then never completes a write: only the stall timeout can end this before the deadline.
    const fake = await fakeApiServer({
      onExec: ws => {
        const send = () => {
          if (ws.readyState !== ws.OPEN) return;
          ws.send(Buffer.concat([Buffer.from([1]), randomBytes(64 * 1024)]), () => setTimeout(send, 5));
        };
        send();
      },
    });
    close = fake.close;
    let accepted = 0;
    const stalled = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer) {
        accepted += chunk.length; // the callback is never called: the destination hangs
      },
    });
    const started = Date.now();
    const error = await execStream(fake.client, {
      ...base,
      destination: stalled,
      idleTimeoutMs: 60_000,
      deadlineMs: 120_000,
      stallTimeoutMs: 1500,
    }).catch(e => e);
    expect(error).toBeInstanceOf(ExecFailedError);
    expect(error.message).toBe('The destination accepted no data for 2s (remoteTransfer.stallTimeoutSeconds)');
    expect(accepted).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(6000);
  });

  describe('stdin', () => {
    /** Records every message the client sends; answers Success once `done(messages)` says so. */
    function stdinServer(done: (messages: Buffer[]) => boolean, protocol?: string) {
      const messages: Buffer[] = [];
      return fakeApiServer({
        protocol,
        onExec: ws => {
          ws.on('message', (data: Buffer) => {
            messages.push(Buffer.from(data));
            if (done(messages)) ws.send(status({ status: 'Success' }), () => ws.close(1000));
          });
        },
      }).then(fake => ({ ...fake, messages }));
    }
    const stdinOf = (messages: Buffer[]) =>
      Buffer.concat(messages.filter(m => m[0] === 0).map(m => m.subarray(1)));
    const closeMessage = (m: Buffer) => m.length === 2 && m[0] === 255 && m[1] === 0;

    it('sends stdin on channel 0 in frames of at most 64 KiB, then the v5 CLOSE for stdin, and waits for the status', async () => {
      const parts = [randomBytes(1), randomBytes(200), randomBytes(70_000), randomBytes(65_535), randomBytes(3)];
      const fake = await stdinServer(messages => closeMessage(messages[messages.length - 1]));
      close = fake.close;
      const counted: number[] = [];
      const result = await execStream(fake.client, {
        ...base,
        command: ['tar', '-xzf', '-'],
        stdin: Readable.from(parts),
        onStdinChunk: chunk => counted.push(chunk.length),
      });
      expect(result).toEqual({ stderr: '', stdout: '', protocol: 'v5.channel.k8s.io', stdinBytes: 135_739 });
      expect(counted).toEqual(parts.map(p => p.length));
      expect(stdinOf(fake.messages).equals(Buffer.concat(parts))).toBe(true);
      expect(Math.max(...fake.messages.map(m => m.length))).toBe(65_536);
      expect(fake.messages.filter(closeMessage)).toHaveLength(1);
      expect(closeMessage(fake.messages[fake.messages.length - 1])).toBe(true);
      expect(fake.requests[0].url).toBe(
        '/api/v1/namespaces/ns/pods/helper/exec?command=tar&command=-xzf&command=-&container=tar&stdin=true&stdout=true&stderr=true',
      );
    });

    it('offers only the protocols asked for, and on v4 sends no CLOSE (the command bounds its read)', async () => {
      const input = randomBytes(100_000);
      const fake = await stdinServer(messages => stdinOf(messages).length === input.length);
      close = fake.close;
      const result = await execStream(fake.client, {
        ...base,
        command: ['sh', '-c', `head -c ${input.length} | tar -xzf -`],
        stdin: Readable.from([input]),
        protocols: ['v4.channel.k8s.io'],
      });
      expect(result.protocol).toBe('v4.channel.k8s.io');
      expect(fake.requests[0].headers['sec-websocket-protocol']).toBe('v4.channel.k8s.io');
      expect(fake.messages.some(closeMessage)).toBe(false);
      expect(stdinOf(fake.messages).equals(input)).toBe(true);
    });

    it('refuses a protocol outside EXEC_PROTOCOLS before connecting', async () => {
      const fake = await stdinServer(() => true);
      close = fake.close;
      await expect(execStream(fake.client, { ...base, protocols: ['channel.k8s.io'] })).rejects.toThrow(
        /execStream speaks v5.channel.k8s.io, v4.channel.k8s.io; asked for channel.k8s.io/,
      );
      await expect(execStream(fake.client, { ...base, protocols: [] })).rejects.toThrow(/asked for none/);
      expect(fake.requests).toHaveLength(0);
    });

    it('ends an empty input at once with CLOSE', async () => {
      const fake = await stdinServer(messages => messages.some(closeMessage));
      close = fake.close;
      const result = await execStream(fake.client, { ...base, stdin: Readable.from([]) });
      expect(result.stdinBytes).toBe(0);
      expect(stdinOf(fake.messages).length).toBe(0);
    });

    it('fails on a stream of strings rather than guessing an encoding', async () => {
      const fake = await stdinServer(() => false);
      close = fake.close;
      const stdin = new PassThrough({ encoding: 'utf8' });
      stdin.end('text');
      await expect(execStream(fake.client, { ...base, stdin })).rejects.toThrow(/stdin must be a byte stream, not a stream of strings/);
      expect(stdin.destroyed).toBe(true);
    });

    it('fails at once on an input that already failed', async () => {
      const fake = await stdinServer(() => false);
      close = fake.close;
      const stdin = new PassThrough();
      stdin.on('error', () => {});
      stdin.destroy(new Error('download refused'));
      await expect(execStream(fake.client, { ...base, stdin })).rejects.toThrow(/failed: download refused/);
    });

    it('succeeds when the command exits 0 before reading all its input, and stops sending', async () => {
      const fake = await fakeApiServer({
        onExec: ws => {
          let first = true;
          ws.on('message', () => {
            if (!first) return;
            first = false;
            ws.send(status({ status: 'Success' }), () => ws.close(1000));
          });
        },
      });
      close = fake.close;
      let pulled = 0;
      const stdin = new Readable({
        read() {
          pulled += 65_536;
          this.push(randomBytes(65_536));
        },
      });
      const result = await execStream(fake.client, { ...base, stdin });
      expect(result.stdinBytes).toBeGreaterThan(0);
      expect(result.stdinBytes).toBeLessThanOrEqual(pulled);
      expect(stdin.destroyed).toBe(true); // released, nothing more read from it
      const after = pulled;
      await new Promise(r => setTimeout(r, 200));
      expect(pulled).toBe(after);
      // a late error of the released source does not crash the process
      stdin.emit('error', new Error('late'));
    });

    it('accepts Uint8Array chunks and fails cleanly when onStdinChunk throws', async () => {
      const bytes = new Uint8Array(randomBytes(1000));
      const fake = await stdinServer(messages => messages.some(closeMessage));
      close = fake.close;
      await execStream(fake.client, { ...base, stdin: Readable.from([bytes]) });
      expect(stdinOf(fake.messages).equals(Buffer.from(bytes))).toBe(true);

      const stdin = Readable.from([randomBytes(10), randomBytes(10)]);
      const error = await execStream(fake.client, {
        ...base,
        stdin,
        onStdinChunk: () => {
          throw new Error('hash broke');
        },
      }).catch(e => e);
      expect(error).toBeInstanceOf(ExecFailedError);
      expect(error.message).toMatch(/failed: hash broke$/);
      expect(stdin.destroyed).toBe(true);
    });

    it('fails on a stream of objects that are not bytes', async () => {
      const fake = await stdinServer(() => false);
      close = fake.close;
      await expect(execStream(fake.client, { ...base, stdin: Readable.from([{ a: 1 }]) })).rejects.toThrow(
        /stdin must be a byte stream, not a stream of object/,
      );
    });

    it('fails as a stall when the server stops reading stdin, bounded by idleTimeoutMs without stallTimeoutMs', async () => {
      let serverSocket: net.Socket | undefined;
      const fake = await fakeApiServer({
        // the server takes nothing more: our writes fill the socket buffers, then wait for 'drain'
        onExec: ws => {
          serverSocket = (ws as unknown as { _socket: net.Socket })._socket;
          serverSocket.pause();
        },
      });
      close = () => {
        serverSocket?.destroy(); // paused, it would never notice our side closing
        return fake.close();
      };
      let pulled = 0;
      const stdin = new Readable({
        read() {
          pulled += 65_536;
          this.push(randomBytes(65_536));
        },
      });
      const started = Date.now();
      const error = await execStream(fake.client, { ...base, stdin, idleTimeoutMs: 1500 }).catch(e => e);
      expect(error).toBeInstanceOf(ExecFailedError);
      expect(error.message).toBe("The pod took no input for 2s: the API server or 'tar -czf - .' stopped reading");
      expect(Date.now() - started).toBeLessThan(5000);
      expect(pulled).toBeLessThan(64 * 1024 * 1024);
      expect(stdin.destroyed).toBe(true);
    });

    it('fails as idle when the source delivers nothing and the pod prints nothing', async () => {
      const fake = await fakeApiServer({ onExec: () => {} });
      close = fake.close;
      const stdin = new Readable({ read() {} }); // a download that hangs
      const error = await execStream(fake.client, { ...base, stdin, idleTimeoutMs: 1500 }).catch(e => e);
      expect(error).toBeInstanceOf(ExecFailedError);
      expect(error.message).toBe('No data to or from the helper pod for 2s');
      expect(stdin.destroyed).toBe(true);
    });

    it('keeps the stdout tail without a destination and quotes it when the command fails without stderr', async () => {
      const fake = await fakeApiServer({
        onExec: ws => {
          ws.send(Buffer.concat([Buffer.from([1]), randomBytes(100_000)]));
          ws.send(Buffer.concat([Buffer.from([1]), Buffer.from('checksum mismatch\n')]));
          ws.send(
            status({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '1' }] } }),
            () => ws.close(1000),
          );
        },
      });
      close = fake.close;
      const error = await execStream(fake.client, { ...base }).catch(e => e);
      expect(error).toBeInstanceOf(ExecFailedError);
      expect(error.message).toMatch(/exited with code 1: [^]*checksum mismatch$/);
    });
  });

  it('fails within the request timeout when the server accepts the connection and never answers the upgrade', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer(socket => {
      sockets.push(socket);
      socket.on('data', () => {});
    });
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve));
    close = () => {
      sockets.forEach(s => s.destroy());
      return new Promise(resolve => silent.close(resolve));
    };
    const kc = kubeConfigFor('silent', `http://127.0.0.1:${(silent.address() as AddressInfo).port}`);
    const started = Date.now();
    const error = await execStream(createClusterClient('silent', kc, { requestTimeoutMs: 1000 }), {
      ...base,
      destination: collector().destination,
      idleTimeoutMs: 60_000,
      deadlineMs: 120_000,
    }).catch(e => e);
    expect(error).toBeInstanceOf(ExecFailedError);
    expect(error.message).toMatch(/did not answer the exec request within 1s \(kubernetes.requestTimeoutSeconds\)/);
    expect(Date.now() - started).toBeLessThan(4000);
  });
});
