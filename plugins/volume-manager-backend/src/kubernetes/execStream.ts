/*
 * Runs a command in a pod over pods/exec (WebSocket, v5/v4.channel.k8s.io) and streams its
 * stdout into a Writable with backpressure: while the destination's buffer is full the socket
 * is not read, so memory stays flat whatever the volume size, and TCP backpressure reaches the
 * process in the pod.
 *
 * This is the data path of every backup, so it avoids allocating per read (see ADR 003): the
 * socket reads into one fixed buffer, frames are parsed in place, stdout bytes are hashed there
 * and copied into 256 KiB blocks for the destination. Blocks written to a file are reused once
 * the write completes. Credentials and TLS come from the cluster's KubeConfig, as for every
 * other call.
 *
 * The command has succeeded only when the exec status channel says `Success`. A socket that
 * closes without a status, a non-zero exit code, or an idle, stall or overall timeout is a
 * failure: the caller must then discard whatever the destination received. The upgrade must be
 * answered within the client's request timeout.
 */
import { WriteStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import type { V1Status } from '@kubernetes/client-node';
import type { ClusterClient, UpgradeSocket } from './ClusterClient';
import { KubernetesApiError, kubernetesErrorFromResponse, type KubernetesCallContext } from './errors';
import {
  encodeClientFrame,
  OPCODE_BINARY,
  OPCODE_CLOSE,
  OPCODE_PING,
  OPCODE_PONG,
  webSocketAccept,
  WebSocketFrameReader,
} from './webSocketFrames';

export interface ExecStreamOptions {
  namespace: string;
  pod: string;
  container: string;
  command: string[];
  /** Receives stdout. Its write() return value drives backpressure. */
  destination: Writable;
  /** Called for every stdout chunk, before it is written (hashing, counting). The chunk is only valid during the call. */
  onChunk?: (chunk: Buffer) => void;
  /** Fail when no stdout arrives for this long (time the destination holds us paused excluded). */
  idleTimeoutMs: number;
  /**
   * Fail when the destination stays full (the socket paused, no `drain`) for this long: a
   * destination that stopped accepting bytes. Unset: only the deadline bounds it.
   */
  stallTimeoutMs?: number;
  /** Fail when the command runs longer than this. */
  deadlineMs: number;
  /** Aborting stops the command (cancel). */
  signal?: AbortSignal;
}

export interface ExecStreamResult {
  stderr: string;
}

export class ExecFailedError extends Error {
  readonly name = 'ExecFailedError';
  constructor(
    message: string,
    readonly exitCode?: number,
    readonly stderr = '',
  ) {
    super(message);
  }
}

/** Subprotocols we speak, newest first: both carry the exit status as JSON on channel 3. */
export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
const STDOUT = 1;
const STDERR = 2;
const STATUS = 3;
const STDERR_TAIL = 4096;
const READ_BUFFER_BYTES = 64 * 1024;
const BLOCK_BYTES = 256 * 1024;
const MAX_POOLED_BLOCKS = 8;
const MAX_RESPONSE_HEAD_BYTES = 64 * 1024;

function exitCodeOf(status: V1Status): number | undefined {
  const cause = status.details?.causes?.find(c => c.reason === 'ExitCode');
  return cause?.message !== undefined ? Number(cause.message) : undefined;
}

function execPath(upgrade: UpgradeSocket, options: ExecStreamOptions): string {
  const query = new URLSearchParams();
  for (const arg of options.command) query.append('command', arg);
  query.set('container', options.container);
  query.set('stdout', 'true');
  query.set('stderr', 'true');
  const prefix = upgrade.url.pathname.replace(/\/$/, '');
  return `${prefix}/api/v1/namespaces/${encodeURIComponent(options.namespace)}/pods/${encodeURIComponent(options.pod)}/exec?${query}`;
}

function upgradeRequest(upgrade: UpgradeSocket, path: string, key: string): string {
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: ${upgrade.url.host}`,
    'Connection: Upgrade',
    'Upgrade: websocket',
    'Sec-WebSocket-Version: 13',
    `Sec-WebSocket-Key: ${key}`,
    `Sec-WebSocket-Protocol: ${EXEC_PROTOCOLS.join(', ')}`,
  ];
  for (const [name, value] of Object.entries(upgrade.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) {
      if (/[\r\n]/.test(`${name}${v}`)) throw new Error(`Header '${name}' of the kubeconfig contains a line break`);
      lines.push(`${name}: ${v}`);
    }
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

interface ResponseHead {
  statusCode: number;
  headers: Map<string, string>;
}

function parseResponseHead(text: string): ResponseHead {
  const [statusLine, ...headerLines] = text.split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!match) throw new Error(`Not an HTTP response: ${statusLine.slice(0, 100)}`);
  const headers = new Map<string, string>();
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { statusCode: Number(match[1]), headers };
}

/** Streams a command's stdout to `destination` and resolves when it exited with status 0. */
export async function execStream(
  client: ClusterClient,
  options: ExecStreamOptions,
): Promise<ExecStreamResult> {
  const context: KubernetesCallContext = {
    verb: 'create',
    resource: 'pods/exec',
    namespace: options.namespace,
    name: options.pod,
  };
  const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  let onBytes: (data: Buffer) => void = () => {};
  let upgrade: UpgradeSocket;
  try {
    upgrade = await client.openUpgradeSocket({
      buffer: readBuffer,
      callback: (length: number) => {
        onBytes(readBuffer.subarray(0, length));
        return true;
      },
    }, options.signal);
  } catch (error) {
    throw new KubernetesApiError(client.cluster, undefined, context, undefined, (error as Error).message, { cause: error });
  }
  const socket = upgrade.socket;
  const key = randomBytes(16).toString('base64');

  let stderrTail = '';
  let status: V1Status | undefined;
  let paused = false;
  let pausedAt = 0;
  let settled = false;
  let lastData = Date.now();

  // ---- stdout into blocks, with backpressure
  const recycleBlocks = options.destination instanceof WriteStream;
  const pool: Buffer[] = [];
  let block: Buffer | undefined;
  let used = 0;
  const onDrain = () => {
    paused = false;
    socket.resume();
  };
  const flushBlock = () => {
    if (!block || used === 0) return;
    const full = block;
    const chunk = used === BLOCK_BYTES ? full : full.subarray(0, used);
    block = undefined;
    used = 0;
    const ok = options.destination.write(
      chunk,
      recycleBlocks
        ? (error?: Error | null) => {
            if (!error && pool.length < MAX_POOLED_BLOCKS) pool.push(full);
          }
        : undefined,
    );
    if (!ok && !paused && !settled) {
      paused = true;
      pausedAt = Date.now();
      socket.pause();
      options.destination.once('drain', onDrain);
    }
  };
  const stdoutData = (data: Buffer) => {
    lastData = Date.now();
    options.onChunk?.(data);
    let offset = 0;
    while (offset < data.length) {
      if (!block) {
        block = pool.pop() ?? Buffer.allocUnsafeSlow(BLOCK_BYTES);
        used = 0;
      }
      const copied = data.copy(block, used, offset);
      used += copied;
      offset += copied;
      if (used === BLOCK_BYTES) flushBlock();
    }
  };

  // ---- channels
  let channel = -1;
  let statusParts: Buffer[] = [];
  let closeSent = false;
  const sendClose = () => {
    if (closeSent || socket.destroyed) return;
    closeSent = true;
    socket.write(encodeClientFrame(OPCODE_CLOSE, Buffer.from([0x03, 0xe8])));
    socket.end();
  };
  const reader = new WebSocketFrameReader({
    messageStart(opcode) {
      if (opcode !== OPCODE_BINARY) throw new Error('The API server sent a text message on a binary exec protocol');
      channel = -1;
    },
    messageData(data) {
      let payload = data;
      if (channel < 0) {
        channel = payload[0];
        payload = payload.subarray(1);
        if (channel === STATUS) statusParts = [];
      }
      if (payload.length === 0) return;
      if (channel === STDOUT) stdoutData(payload);
      else if (channel === STDERR) stderrTail = (stderrTail + payload.toString('utf8')).slice(-STDERR_TAIL);
      else if (channel === STATUS) statusParts.push(Buffer.from(payload));
      // v5 CLOSE (255) and anything else carries nothing we need
    },
    messageEnd() {
      if (channel === STATUS && statusParts.length > 0) {
        const text = Buffer.concat(statusParts).toString('utf8');
        try {
          status = JSON.parse(text) as V1Status;
        } catch {
          status = { status: 'Failure', message: `Unreadable exec status: ${text.slice(0, 200)}` };
        }
      }
    },
    control(opcode, payload) {
      if (opcode === OPCODE_PING) socket.write(encodeClientFrame(OPCODE_PONG, Buffer.from(payload)));
      else if (opcode === OPCODE_CLOSE) sendClose();
    },
  });

  // ---- handshake, then frames
  let head = '';
  let upgraded = false;
  let rejection: { statusCode: number; body: string; contentLength: number } | undefined;
  const handshakeFailure = (statusCode: number, body: string) =>
    kubernetesErrorFromResponse(client.cluster, statusCode, context, body);

  await new Promise<void>((resolve, reject) => {
    const started = Date.now();
    // Assigned below; declared first because finish() clears and detaches them.
    let watchdog: NodeJS.Timeout | null = null;
    let onAbort: () => void = () => {};
    function finish(error?: Error) {
      if (settled) return;
      if (!error) flushBlock();
      settled = true;
      onBytes = () => {};
      if (watchdog) clearInterval(watchdog);
      options.signal?.removeEventListener('abort', onAbort);
      options.destination.off('drain', onDrain);
      options.destination.off('error', onDestinationError);
      if (error) {
        socket.destroy();
        reject(error);
      } else {
        sendClose();
        resolve();
      }
    }
    onAbort = () => finish(new ExecFailedError('The backup was cancelled', undefined, stderrTail));
    options.signal?.addEventListener('abort', onAbort);
    // The destination failing (a remote server gone) ends the command with its error.
    function onDestinationError(error: Error) {
      finish(error);
    }
    options.destination.on('error', onDestinationError);
    if (options.destination.errored) onDestinationError(options.destination.errored);

    const onHead = (data: Buffer) => {
      if (rejection) {
        rejection.body += data.toString('utf8');
        if (Buffer.byteLength(rejection.body) >= rejection.contentLength) {
          finish(handshakeFailure(rejection.statusCode, rejection.body));
        }
        return;
      }
      head += data.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_RESPONSE_HEAD_BYTES) throw new Error('The API server sent an oversized response head');
        return;
      }
      const response = parseResponseHead(head.slice(0, end));
      const rest = Buffer.from(head.slice(end + 4), 'latin1');
      if (response.statusCode !== 101) {
        const length = Number(response.headers.get('content-length') ?? NaN);
        rejection = { statusCode: response.statusCode, body: '', contentLength: Number.isFinite(length) ? length : Infinity };
        onHead(rest);
        return;
      }
      if (response.headers.get('sec-websocket-accept') !== webSocketAccept(key)) {
        throw new Error('The API server answered the exec upgrade with a wrong Sec-WebSocket-Accept');
      }
      const protocol = response.headers.get('sec-websocket-protocol') ?? '';
      if (!EXEC_PROTOCOLS.includes(protocol)) {
        throw new Error(`The API server chose exec protocol '${protocol || 'none'}'; this plugin speaks ${EXEC_PROTOCOLS.join(', ')}`);
      }
      upgraded = true;
      head = '';
      if (rest.length) reader.push(rest);
    };
    onBytes = data => {
      try {
        if (upgraded) reader.push(data);
        else onHead(data);
      } catch (error) {
        finish(new ExecFailedError(`The exec stream broke: ${(error as Error).message}`, undefined, stderrTail));
      }
    };

    watchdog = setInterval(() => {
      if (paused) lastData = Date.now(); // a slow destination is not an idle command
      if (!upgraded && !rejection && Date.now() - started > client.requestTimeoutMs) {
        finish(
          new ExecFailedError(
            `The API server did not answer the exec request within ${Math.round(client.requestTimeoutMs / 1000)}s (kubernetes.requestTimeoutSeconds)`,
            undefined,
            stderrTail,
          ),
        );
      } else if (paused && options.stallTimeoutMs && Date.now() - pausedAt > options.stallTimeoutMs) {
        finish(
          new ExecFailedError(
            `The destination accepted no data for ${Math.round(options.stallTimeoutMs / 1000)}s (remoteTransfer.stallTimeoutSeconds)`,
            undefined,
            stderrTail,
          ),
        );
      } else if (Date.now() - lastData > options.idleTimeoutMs) {
        finish(new ExecFailedError(`No data from the helper pod for ${Math.round(options.idleTimeoutMs / 1000)}s`, undefined, stderrTail));
      } else if (Date.now() - started > options.deadlineMs) {
        finish(new ExecFailedError(`The command did not finish within ${Math.round(options.deadlineMs / 1000)}s`, undefined, stderrTail));
      }
    }, 1000);
    socket.on('error', (error: Error) => finish(new ExecFailedError(`The exec stream broke: ${error.message}`, undefined, stderrTail)));
    socket.on('close', () => {
      if (rejection) {
        finish(handshakeFailure(rejection.statusCode, rejection.body));
      } else if (!upgraded) {
        finish(new ExecFailedError('The API server closed the exec connection before upgrading it', undefined, stderrTail));
      } else if (!status) {
        finish(new ExecFailedError('The exec stream closed without an exit status; the output is incomplete', undefined, stderrTail));
      } else if (status.status === 'Success') {
        finish();
      } else {
        const exitCode = exitCodeOf(status);
        finish(
          new ExecFailedError(
            exitCode !== undefined
              ? `'${options.command.join(' ')}' exited with code ${exitCode}${stderrTail ? `: ${stderrTail.trim().slice(-500)}` : ''}`
              : `The command failed: ${status.message ?? status.reason ?? 'unknown reason'}`,
            exitCode,
            stderrTail,
          ),
        );
      }
    });
    try {
      socket.write(upgradeRequest(upgrade, execPath(upgrade, options), key));
    } catch (error) {
      finish(error as Error);
    }
    if (options.signal?.aborted) onAbort();
  });
  return { stderr: stderrTail };
}
