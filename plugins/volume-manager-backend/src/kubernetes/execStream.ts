/*
 * Runs a command in a pod over pods/exec (WebSocket, client-node's Exec) and streams its
 * stdout into a Writable with backpressure: when the destination's buffer is full the socket is
 * paused, so memory stays flat whatever the volume size, and TCP backpressure reaches the
 * process in the pod.
 *
 * The command has succeeded only when the exec status channel says `Success`. A socket that
 * closes without a status, a non-zero exit code, or an idle or overall timeout is a failure:
 * the caller must then discard whatever the destination received.
 */
import { Writable } from 'node:stream';
import { Exec, type V1Status } from '@kubernetes/client-node';
import type WebSocket from 'ws';
import type { ClusterClient } from './ClusterClient';
import { KubernetesApiError } from './errors';

export interface ExecStreamOptions {
  namespace: string;
  pod: string;
  container: string;
  command: string[];
  /** Receives stdout. Its write() return value drives backpressure. */
  destination: Writable;
  /** Called for every stdout chunk, before it is written (hashing, counting). */
  onChunk?: (chunk: Buffer) => void;
  /** Fail when no stdout arrives for this long. */
  idleTimeoutMs: number;
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

const STDERR_TAIL = 4096;

function exitCodeOf(status: V1Status): number | undefined {
  const cause = status.details?.causes?.find(c => c.reason === 'ExitCode');
  return cause?.message !== undefined ? Number(cause.message) : undefined;
}

/** Streams a command's stdout to `destination` and resolves when it exited with status 0. */
export async function execStream(
  client: ClusterClient,
  options: ExecStreamOptions,
): Promise<ExecStreamResult> {
  let stderrTail = '';
  let status: V1Status | undefined;
  let ws: WebSocket | undefined;
  let paused = false;
  let lastData = Date.now();

  const onDrain = () => {
    paused = false;
    ws?.resume();
  };
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lastData = Date.now();
      options.onChunk?.(chunk);
      if (!options.destination.write(chunk) && !paused) {
        paused = true;
        ws?.pause();
        options.destination.once('drain', onDrain);
      }
      callback();
    },
  });
  const stderr = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      stderrTail = (stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL);
      callback();
    },
  });

  const exec = new Exec(client.kubeConfig);
  try {
    ws = (await exec.exec(
      options.namespace,
      options.pod,
      options.container,
      options.command,
      stdout,
      stderr,
      null,
      false,
      s => {
        status = s;
      },
    )) as unknown as WebSocket;
  } catch (error) {
    const message = (error as { message?: string })?.message ?? String(error);
    const code = /Unexpected server response: (\d+)/.exec(message)?.[1];
    throw new KubernetesApiError(
      client.cluster,
      code ? Number(code) : undefined,
      { verb: 'create (exec)', resource: 'pods/exec', namespace: options.namespace, name: options.pod },
      undefined,
      code === '403'
        ? `RBAC gap: the volume-manager backend's identity on cluster '${client.cluster}' may not create pods/exec in namespace '${options.namespace}'`
        : `Cannot exec into pod '${options.pod}' on cluster '${client.cluster}': ${message}`,
    );
  }
  const socket = ws;

  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const started = Date.now();
    // Assigned below; declared first because finish() clears and detaches them.
    let watchdog: NodeJS.Timeout | null = null;
    let onAbort: () => void = () => {};
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      if (watchdog) clearInterval(watchdog);
      options.signal?.removeEventListener('abort', onAbort);
      options.destination.off('drain', onDrain);
      options.destination.off('error', onDestinationError);
      if (error) {
        socket.terminate();
        reject(error);
      } else {
        resolve();
      }
    };
    onAbort = () => finish(new ExecFailedError('The backup was cancelled', undefined, stderrTail));
    options.signal?.addEventListener('abort', onAbort);
    // The destination failing (a remote server gone) ends the command with its error.
    function onDestinationError(error: Error) {
      finish(error);
    }
    options.destination.on('error', onDestinationError);
    if (options.destination.errored) onDestinationError(options.destination.errored);
    watchdog = setInterval(() => {
      if (paused) lastData = Date.now(); // a slow destination is not an idle command
      if (Date.now() - lastData > options.idleTimeoutMs) {
        finish(new ExecFailedError(`No data from the helper pod for ${Math.round(options.idleTimeoutMs / 1000)}s`, undefined, stderrTail));
      } else if (Date.now() - started > options.deadlineMs) {
        finish(new ExecFailedError(`The command did not finish within ${Math.round(options.deadlineMs / 1000)}s`, undefined, stderrTail));
      }
    }, 1000);
    socket.on('error', (error: Error) => finish(new ExecFailedError(`The exec stream broke: ${error.message}`, undefined, stderrTail)));
    socket.on('close', () => {
      if (!status) {
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
    if (options.signal?.aborted) onAbort();
  });
  return { stderr: stderrTail };
}
