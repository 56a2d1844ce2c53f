/*
 * Runs a command in a pod over pods/exec (WebSocket, v5/v4.channel.k8s.io) and streams its
 * stdout into a Writable with backpressure: while the destination's buffer is full the socket
 * is not read, so memory stays flat whatever the volume size, and TCP backpressure reaches the
 * process in the pod.
 *
 * It can also stream a Readable INTO the command's stdin (a restore): the data goes out as
 * masked binary frames on channel 0, at most 64 KiB each, built in a few recycled buffers. While
 * the socket's write buffer is full (`write()` returned false) the source is paused until the
 * socket drains, so memory stays flat here too and a slow reader in the pod slows the source.
 * End of input depends on the subprotocol the server chose:
 *  - v5.channel.k8s.io: when the source ends we send the CLOSE message for stdin (channel 255,
 *    payload [0]); the process reads EOF.
 *  - v4.channel.k8s.io has no half-close: the process never sees EOF while the connection is
 *    open. The command must bound its own read, e.g. `sh -c 'head -c N | tar -xzf -'` with the
 *    exact byte count N of the source.
 * Either way the connection stays open after the input ends, until the exit status arrives on
 * channel 3: the result is that status, never the mere end of the input. A source that fails
 * fails the exec (the connection is dropped, so the process gets no more input), and a socket
 * that does not drain for `stallTimeoutMs` (the API server or the process stopped reading) is a
 * failure too. A command that exits successfully before reading all of its input succeeds;
 * `stdinBytes` in the result says how much was sent.
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
import type { Readable, Writable } from 'node:stream';
import type { V1Status } from '@kubernetes/client-node';
import type { ClusterClient, UpgradeSocket } from './ClusterClient';
import { KubernetesApiError, kubernetesErrorFromResponse, type KubernetesCallContext } from './errors';
import {
  DATA_FRAME_BUFFER_BYTES,
  encodeClientDataFrameInto,
  encodeClientFrame,
  MAX_DATA_FRAME_PAYLOAD,
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
  /**
   * Receives stdout. Its write() return value drives backpressure. Without one, stdout is only
   * passed to `onChunk` and its last 4 KiB kept for the result and error messages.
   */
  destination?: Writable;
  /** Called for every stdout chunk, before it is written (hashing, counting). The chunk is only valid during the call. */
  onChunk?: (chunk: Buffer) => void;
  /**
   * Sent to the command's stdin (see the file header for how its end reaches the process).
   * Destroyed when the exec fails or is cancelled; on success after the command exited without
   * reading all of it, it is left paused for the caller.
   */
  stdin?: Readable;
  /** Called for every stdin chunk before it is sent (hashing, counting). The chunk is only valid during the call. */
  onStdinChunk?: (chunk: Buffer) => void;
  /**
   * Fail when neither stdout arrives nor stdin is sent for this long (time the destination
   * holds us paused, and time waiting for the socket to take stdin, excluded).
   */
  idleTimeoutMs: number;
  /**
   * Fail when the destination stays full (the socket paused, no `drain`) for this long: a
   * destination that stopped accepting bytes. Also the limit for the socket to take more stdin
   * (falling back to `idleTimeoutMs`): the API server or the process stopped reading. Unset:
   * only the deadline bounds a full destination.
   */
  stallTimeoutMs?: number;
  /** Fail when the command runs longer than this. */
  deadlineMs: number;
  /**
   * Aborting stops the command (cancel). The error's message is the signal's reason when that
   * is an Error (other than a plain AbortError), else 'The backup was cancelled'.
   */
  signal?: AbortSignal;
  /**
   * Subprotocols to offer, in order of preference; a subset of EXEC_PROTOCOLS (default all),
   * e.g. to force v4.channel.k8s.io in tests.
   */
  protocols?: string[];
}

export interface ExecStreamResult {
  /** The last 4 KiB of stderr. */
  stderr: string;
  /** The last 4 KiB of stdout when there is no destination, else ''. */
  stdout: string;
  /** The subprotocol the API server chose. */
  protocol: string;
  /** Bytes of stdin sent (all of the source's unless the command exited before reading it). */
  stdinBytes: number;
}

export class ExecFailedError extends Error {
  readonly name = 'ExecFailedError';
  constructor(
    message: string,
    readonly exitCode?: number,
    readonly stderr = '',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Subprotocols we speak, newest first: both carry the exit status as JSON on channel 3. */
export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const STATUS = 3;
/** v5.channel.k8s.io: a message on this channel closes the channel named by its payload. */
const CLOSE_CHANNEL = 255;
const V5_PROTOCOL = 'v5.channel.k8s.io';
const STDERR_TAIL = 4096;
/** stdin bytes per frame: the frame payload is the channel byte plus this. */
const STDIN_FRAME_DATA = MAX_DATA_FRAME_PAYLOAD - 1;
/** Frame buffers kept for reuse; more are allocated only while the socket keeps more in flight. */
const MAX_POOLED_FRAMES = 8;
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
  if (options.stdin) query.set('stdin', 'true');
  query.set('stdout', 'true');
  query.set('stderr', 'true');
  const prefix = upgrade.url.pathname.replace(/\/$/, '');
  return `${prefix}/api/v1/namespaces/${encodeURIComponent(options.namespace)}/pods/${encodeURIComponent(options.pod)}/exec?${query}`;
}

function upgradeRequest(upgrade: UpgradeSocket, path: string, key: string, protocols: string[]): string {
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: ${upgrade.url.host}`,
    'Connection: Upgrade',
    'Upgrade: websocket',
    'Sec-WebSocket-Version: 13',
    `Sec-WebSocket-Key: ${key}`,
    `Sec-WebSocket-Protocol: ${protocols.join(', ')}`,
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

function cancellationMessage(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error && reason.name !== 'AbortError' && reason.message) return reason.message;
  return 'The backup was cancelled';
}

/**
 * Streams a command's stdout to `destination` (and `stdin` into it) and resolves when it exited
 * with status 0.
 */
export async function execStream(
  client: ClusterClient,
  options: ExecStreamOptions,
): Promise<ExecStreamResult> {
  const protocols = options.protocols ?? EXEC_PROTOCOLS;
  if (protocols.length === 0 || protocols.some(p => !EXEC_PROTOCOLS.includes(p))) {
    throw new Error(`execStream speaks ${EXEC_PROTOCOLS.join(', ')}; asked for ${protocols.join(', ') || 'none'}`);
  }
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
  let stdoutTail = '';
  let protocol = '';
  let status: V1Status | undefined;
  let paused = false;
  let pausedAt = 0;
  let settled = false;
  let lastData = Date.now();

  // ---- stdout into blocks, with backpressure
  const destination = options.destination;
  const recycleBlocks = destination instanceof WriteStream;
  const pool: Buffer[] = [];
  let block: Buffer | undefined;
  let used = 0;
  const onDrain = () => {
    paused = false;
    socket.resume();
  };
  const flushBlock = () => {
    if (!destination || !block || used === 0) return;
    const full = block;
    const chunk = used === BLOCK_BYTES ? full : full.subarray(0, used);
    block = undefined;
    used = 0;
    const ok = destination.write(
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
      destination.once('drain', onDrain);
    }
  };
  const stdoutData = (data: Buffer) => {
    lastData = Date.now();
    options.onChunk?.(data);
    if (!destination) {
      stdoutTail = (stdoutTail + data.subarray(-STDERR_TAIL).toString('utf8')).slice(-STDERR_TAIL);
      return;
    }
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

  /** What to quote of the output in an error: stderr, else (without a destination) stdout. */
  const outputTail = () => (stderrTail.trim() || stdoutTail.trim()).slice(-500);

  // ---- channels
  let channel = -1;
  let statusParts: Buffer[] = [];
  let closeSent = false;
  const sendClose = () => {
    if (closeSent || socket.destroyed) return;
    closeSent = true;
    stopStdin();
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
        stopStdin(); // the command has exited: the rest of the input has no reader
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

  // ---- stdin, with backpressure from the socket
  const stdin = options.stdin;
  const framePool: Buffer[] = [];
  let stdinBytes = 0;
  let stdinStarted = false;
  let stdinStopped = false;
  /** Since when stdin waits for the socket to drain; 0 while it does not. */
  let stdinWaitingSince = 0;
  let stdinFailure: (error: Error) => void = () => {};
  const onSocketDrain = () => {
    stdinWaitingSince = 0;
    if (!stdinStopped) stdin?.resume();
  };
  const sendStdin = (chunk: Buffer) => {
    if (stdinStopped) return;
    if (socket.destroyed || socket.writableEnded) {
      stopStdin();
      return;
    }
    lastData = Date.now();
    options.onStdinChunk?.(chunk);
    stdinBytes += chunk.length;
    let ok = true;
    for (let offset = 0; offset < chunk.length; offset += STDIN_FRAME_DATA) {
      const buffer = framePool.pop() ?? Buffer.allocUnsafeSlow(DATA_FRAME_BUFFER_BYTES);
      const frame = encodeClientDataFrameInto(buffer, OPCODE_BINARY, STDIN, chunk.subarray(offset, offset + STDIN_FRAME_DATA));
      ok = socket.write(frame, error => {
        if (!error && framePool.length < MAX_POOLED_FRAMES) framePool.push(buffer);
      });
    }
    if (!ok && !stdinWaitingSince) {
      stdinWaitingSince = Date.now();
      stdin?.pause();
      socket.once('drain', onSocketDrain);
    }
  };
  const onStdinData = (chunk: Buffer | string) => {
    if (typeof chunk === 'string') {
      stdinFailure(new Error('stdin must be a byte stream, not a string stream'));
      return;
    }
    if (chunk.length > 0) sendStdin(chunk);
  };
  const onStdinEnd = () => {
    if (stdinStopped || socket.destroyed || socket.writableEnded) return;
    // v4 cannot signal the end of the input: the command bounds its own read (see the header)
    if (protocol === V5_PROTOCOL) socket.write(encodeClientFrame(OPCODE_BINARY, Buffer.from([CLOSE_CHANNEL, STDIN])));
    detachStdin();
  };
  const onStdinError = (error: Error) => stdinFailure(error);
  function detachStdin() {
    stdinStopped = true;
    socket.off('drain', onSocketDrain);
    if (!stdin) return;
    stdin.off('data', onStdinData);
    stdin.off('end', onStdinEnd);
    stdin.off('error', onStdinError);
  }
  /** No more stdin: the command exited, the connection closes, or the exec failed. */
  function stopStdin() {
    if (stdinStopped) return;
    detachStdin();
    stdin?.pause();
  }
  const startStdin = () => {
    if (!stdin || stdinStarted) return;
    stdinStarted = true;
    if (stdin.errored) {
      stdinFailure(stdin.errored);
      return;
    }
    stdin.on('error', onStdinError);
    if (stdin.readableEnded) {
      onStdinEnd();
      return;
    }
    stdin.on('end', onStdinEnd);
    stdin.on('data', onStdinData);
    stdin.resume();
  };

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
      destination?.off('drain', onDrain);
      destination?.off('error', onDestinationError);
      stopStdin();
      if (error) {
        socket.destroy();
        // nobody reads the rest of the input: release what feeds it (a download, a file)
        if (stdin && !stdin.destroyed) stdin.destroy();
        reject(error);
      } else {
        sendClose();
        resolve();
      }
    }
    onAbort = () => finish(new ExecFailedError(cancellationMessage(options.signal), undefined, stderrTail));
    options.signal?.addEventListener('abort', onAbort);
    // The destination failing (a remote server gone) ends the command with its error.
    function onDestinationError(error: Error) {
      finish(error);
    }
    destination?.on('error', onDestinationError);
    if (destination?.errored) onDestinationError(destination.errored);
    // The source failing (a download cut off) ends the command: it must not see a short input as complete.
    stdinFailure = error =>
      finish(new ExecFailedError(`Reading the input for '${options.command.join(' ')}' failed: ${error.message}`, undefined, stderrTail, { cause: error }));

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
      protocol = response.headers.get('sec-websocket-protocol') ?? '';
      if (!protocols.includes(protocol)) {
        throw new Error(`The API server chose exec protocol '${protocol || 'none'}'; this plugin speaks ${protocols.join(', ')}`);
      }
      upgraded = true;
      head = '';
      if (rest.length) reader.push(rest);
      if (!settled) startStdin();
    };
    onBytes = data => {
      try {
        if (upgraded) reader.push(data);
        else onHead(data);
      } catch (error) {
        finish(new ExecFailedError(`The exec stream broke: ${(error as Error).message}`, undefined, stderrTail));
      }
    };

    const stdinStallLimit = options.stallTimeoutMs ?? options.idleTimeoutMs;
    watchdog = setInterval(() => {
      // a slow destination is not an idle command; a socket not taking stdin has its own limit
      if (paused || stdinWaitingSince) lastData = Date.now();
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
      } else if (stdinWaitingSince && Date.now() - stdinWaitingSince > stdinStallLimit) {
        finish(
          new ExecFailedError(
            `The pod took no input for ${Math.round(stdinStallLimit / 1000)}s: the API server or '${options.command.join(' ')}' stopped reading`,
            undefined,
            stderrTail,
          ),
        );
      } else if (Date.now() - lastData > options.idleTimeoutMs) {
        finish(
          new ExecFailedError(
            stdin && !stdinStopped
              ? `No data to or from the helper pod for ${Math.round(options.idleTimeoutMs / 1000)}s`
              : `No data from the helper pod for ${Math.round(options.idleTimeoutMs / 1000)}s`,
            undefined,
            stderrTail,
          ),
        );
      } else if (Date.now() - started > options.deadlineMs) {
        finish(new ExecFailedError(`The command did not finish within ${Math.round(options.deadlineMs / 1000)}s`, undefined, stderrTail));
      }
    }, 1000);
    socket.on('error', (error: Error) => {
      // Once the status is in, a write refused by a closing server (the command exited before
      // reading all of its input) changes nothing: 'close' follows and reports the status.
      if (status) {
        stopStdin();
        return;
      }
      finish(new ExecFailedError(`The exec stream broke: ${error.message}`, undefined, stderrTail));
    });
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
              ? `'${options.command.join(' ')}' exited with code ${exitCode}${outputTail() ? `: ${outputTail()}` : ''}`
              : `The command failed: ${status.message ?? status.reason ?? 'unknown reason'}`,
            exitCode,
            stderrTail,
          ),
        );
      }
    });
    try {
      socket.write(upgradeRequest(upgrade, execPath(upgrade, options), key, protocols));
    } catch (error) {
      finish(error as Error);
    }
    if (options.signal?.aborted) onAbort();
  });
  return { stderr: stderrTail, stdout: stdoutTail, protocol, stdinBytes };
}
