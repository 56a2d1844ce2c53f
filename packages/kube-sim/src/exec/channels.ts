/*
 * Protocol-independent exec session: starts the sandboxed process and moves
 * bytes between it and a transport (WebSocket or SPDY), with backpressure in
 * both directions, then reports the final Status on the error channel.
 *
 * Backpressure: every chunk handed to the transport is counted until the
 * transport confirms it was written to the socket. Above HIGH_WATER bytes in
 * flight the child's stdout and stderr are no longer read (the child
 * then blocks in write(2) once the pipe buffer is full); reading resumes below
 * LOW_WATER.
 * For stdin, a full child pipe pauses reading from the client socket.
 */
import type { Readable, Writable } from 'node:stream';
import { ExecStatus, exitCodeStatus, internalErrorStatus, startFailureStatus, successStatus } from './status';
import { checkCommand, checkMounts, outputSocketPair, sandboxAvailable, sandboxEnv, spawnSandboxed, type SandboxedProcess } from './sandbox';
import type { ExecTarget } from './types';

const envInt = (name: string, dflt: number) => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : dflt;
};
/** Output bytes in flight before the child's pipes are paused (env KUBE_SIM_EXEC_HIGH_WATER). */
export const HIGH_WATER = envInt('KUBE_SIM_EXEC_HIGH_WATER', 256 * 1024);
export const LOW_WATER = Math.min(64 * 1024, HIGH_WATER / 4);
const STDOUT_READ_BYTES = 64 * 1024;
/** Enough buffers to cover HIGH_WATER in flight plus the reads that overshoot it. */
const STDOUT_POOL_SIZE = Math.ceil(HIGH_WATER / STDOUT_READ_BYTES) + 4;
/**
 * After the client disconnects mid-command, its stdin is ended and its output
 * discarded (the next write gets EPIPE, as when a runtime's stream copier goes
 * away); whatever still runs after this many ms is killed (env
 * KUBE_SIM_EXEC_ORPHAN_GRACE_MS).
 */
const orphanGraceMs = () => envInt('KUBE_SIM_EXEC_ORPHAN_GRACE_MS', 5000);

/**
 * How long a transport waits, once the Status is queued, for a client that has stopped reading
 * to take the rest of the output and close, before it drops the connection (env
 * KUBE_SIM_EXEC_FINISH_TIMEOUT_MS, default 15 minutes).
 */
export const FINISH_TIMEOUT_MS = envInt('KUBE_SIM_EXEC_FINISH_TIMEOUT_MS', 15 * 60 * 1000);

export const STREAM_STDIN = 0;
export const STREAM_STDOUT = 1;
export const STREAM_STDERR = 2;
export const STREAM_ERROR = 3;
export const STREAM_RESIZE = 4;

/** What a protocol implementation provides to the session. */
export interface ExecTransport {
  /** Queue output; call `done` once it has been written to the socket (or the socket died). */
  send(stream: typeof STREAM_STDOUT | typeof STREAM_STDERR, data: Buffer, done: () => void): void;
  /** Send the final status on the error channel and close the connection cleanly. */
  finish(status: ExecStatus): void;
  /** Stop / restart delivering stdin data (socket-level backpressure). */
  pauseInput(): void;
  resumeInput(): void;
}

/** Events a transport feeds into the session. */
export interface ExecSession {
  stdinData(data: Buffer): void;
  stdinEnd(): void;
  /** The client went away before the command finished. */
  connectionLost(): void;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15 };

export function startExecSession(target: ExecTarget, transport: ExecTransport): ExecSession {
  let finished = false;
  const finish = (s: ExecStatus) => {
    if (finished) return;
    finished = true;
    transport.finish(s);
  };
  const noop: ExecSession = { stdinData: () => {}, stdinEnd: () => {}, connectionLost: () => {} };

  if (!sandboxAvailable()) {
    finish(internalErrorStatus('kube-sim: bubblewrap (bwrap) is not installed; run `apt-get install -y bubblewrap`'));
    return noop;
  }
  const mountProblem = checkMounts(target.mounts);
  if (mountProblem) {
    finish(internalErrorStatus(`kube-sim: ${mountProblem}`));
    return noop;
  }
  const env = sandboxEnv(target);
  const problem = checkCommand(target, env);
  if (problem) {
    finish(startFailureStatus(problem));
    return noop;
  }

  // stdout is read into a small pool of buffers, each returned once the transport has written
  // it: no allocation per read, however much the command prints.
  const stdoutPool: Buffer[] = [];
  let onStdout: (chunk: Buffer, release: () => void) => void = (_chunk, release) => release();
  const stdoutReader = {
    buffer: () => stdoutPool.pop() ?? Buffer.allocUnsafeSlow(STDOUT_READ_BYTES),
    callback: (length: number, buffer: Uint8Array) => {
      const chunk = buffer as Buffer;
      onStdout(chunk.subarray(0, length), () => {
        if (stdoutPool.length < STDOUT_POOL_SIZE) stdoutPool.push(chunk);
      });
      return true;
    },
  };

  // Until the process has started (its stdout socket pair takes a moment), stdin is queued.
  let stdin: Writable | null = null;
  const pendingStdin: Buffer[] = [];
  let pendingEnd = false;
  let lost = false;
  let onLost = () => {};

  const session: ExecSession = {
    stdinData(data) {
      if (!stdin) {
        if (!pendingEnd) pendingStdin.push(Buffer.from(data));
        return;
      }
      if (stdin.destroyed || stdin.writableEnded) return;
      if (!stdin.write(data)) transport.pauseInput();
    },
    stdinEnd() {
      if (!stdin) pendingEnd = true;
      else if (!stdin.writableEnded) stdin.end();
    },
    connectionLost() {
      if (finished) return;
      finished = true;
      lost = true;
      if (stdin && !stdin.writableEnded) stdin.end();
      onLost();
    },
  };

  const run = ({ child, kill }: SandboxedProcess, stdout: Readable | undefined) => {
    const outputs: Readable[] = [];
    let killed = false;
    const killTree = () => {
      if (!kill()) return;
      killed = true;
      // Output still queued behind a stalled client must not hold up the final
      // Status: give it a moment, then drop it.
      setTimeout(() => outputs.forEach(o => o.destroy()), 2000).unref();
    };
    try {
      target.onProcess?.(killTree);
    } catch {
      // the caller's bookkeeping failed; the process still runs
    }

    // ---- output with backpressure
    let inFlight = 0;
    let paused = false;
    const send = (stream: typeof STREAM_STDOUT | typeof STREAM_STDERR, chunk: Buffer, release: () => void) => {
      if (finished) {
        release();
        return;
      }
      inFlight += chunk.length;
      transport.send(stream, chunk, () => {
        inFlight -= chunk.length;
        release();
        if (paused && inFlight <= LOW_WATER) {
          paused = false;
          outputs.forEach(o => o.resume());
        }
      });
      if (!paused && inFlight > HIGH_WATER) {
        paused = true;
        outputs.forEach(o => o.pause());
      }
    };
    if (stdout) {
      outputs.push(stdout);
      onStdout = (chunk, release) => send(STREAM_STDOUT, chunk, release);
    }
    if (child.stderr) {
      outputs.push(child.stderr);
      // With a TTY the runtime has a single output stream: stderr goes to stdout.
      const stream = target.tty ? STREAM_STDOUT : STREAM_STDERR;
      child.stderr.on('data', (chunk: Buffer) => send(stream, chunk, () => {}));
    }
    // The process may exit before its output has been read: the status follows the output.
    const stdoutDrained = new Promise<void>(resolve => {
      if (!stdout) resolve();
      else {
        stdout.once('close', () => resolve());
        stdout.once('end', () => stdout.destroy());
        stdout.on('error', () => stdout.destroy());
      }
    });

    // ---- stdin
    stdin = child.stdin;
    stdin?.on('error', () => {
      // EPIPE when the command exits without reading all of its input
    });
    stdin?.on('drain', () => transport.resumeInput());
    for (const data of pendingStdin.splice(0)) session.stdinData(data);
    if (pendingEnd) session.stdinEnd();

    // ---- completion
    child.on('error', err => {
      finish(startFailureStatus(`exec: "${target.command[0]}": ${err.message}`));
    });
    child.on('close', (code, signal) => void stdoutDrained.then(() => {
      if (killed) {
        // the process tree was killed (pod deleted / deadline): like runc, 128+SIGKILL
        finish(exitCodeStatus(target.command, 137));
        return;
      }
      const rc = code ?? (signal ? 128 + (SIGNALS[signal] ?? 0) : 1);
      finish(rc === 0 ? successStatus() : exitCodeStatus(target.command, rc));
    }));

    onLost = () => {
      for (const o of outputs) o.destroy();
      // Nobody is listening any more: do not leak the command.
      const timer = setTimeout(killTree, orphanGraceMs());
      timer.unref();
      child.once('exit', () => clearTimeout(timer));
    };
  };

  (target.stdout ? outputSocketPair(stdoutReader) : Promise.resolve(undefined)).then(
    output => {
      if (lost) {
        output?.reader.destroy();
        output?.writer.destroy();
        return;
      }
      run(spawnSandboxed(target, env, output?.writer), output?.reader);
    },
    error => finish(internalErrorStatus(`kube-sim: cannot create the stdout socket pair: ${(error as Error).message}`)),
  );
  return session;
}
