/*
 * The Status objects the kubelet/apiserver put on the exec error channel
 * (k8s.io/kubelet/pkg/cri/streaming/remotecommand: writeStatus and the
 * NonZeroExitCode / ExitCode constants). Field order matches Go's json.Marshal
 * of metav1.Status, so the bytes are what a real cluster sends.
 */
import { randomBytes } from 'node:crypto';

export interface StatusCause {
  reason?: string;
  message?: string;
}

export interface ExecStatus {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { causes: StatusCause[] };
  code?: number;
}

export function successStatus(): ExecStatus {
  return { metadata: {}, status: 'Success' };
}

/** `command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3` */
export function exitCodeStatus(command: string[], exitCode: number): ExecStatus {
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

/** apierrors.NewInternalError(fmt.Errorf("error executing command in container: %v", err)). */
export function internalErrorStatus(err: string): ExecStatus {
  const message = `error executing command in container: ${err}`;
  return {
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${message}`,
    reason: 'InternalError',
    details: { causes: [{ message }] },
    code: 500,
  };
}

/**
 * The error containerd + runc report when the process cannot be started, e.g.
 * `exec: "foo": executable file not found in $PATH`.
 */
export function startFailureStatus(runtimeError: string): ExecStatus {
  const execId = randomBytes(32).toString('hex');
  return internalErrorStatus(
    `failed to exec in container: failed to start exec "${execId}": OCI runtime exec failed: exec failed: unable to start container process: ${runtimeError}: unknown`,
  );
}

/** A full Status object for a plain HTTP error reply (e.g. a refused upgrade). */
export function httpStatusBody(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

/**
 * The error-channel payload: v4/v5 carry the Status as JSON; older protocols
 * carry only a failure's message, and nothing on success.
 */
export function encodeStatus(status: ExecStatus, json: boolean): Buffer {
  if (json) return Buffer.from(JSON.stringify(status));
  if (status.status === 'Success') return Buffer.alloc(0);
  return Buffer.from(status.message ?? 'error');
}
