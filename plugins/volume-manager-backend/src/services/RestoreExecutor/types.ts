/*
 * The contract between the restore worker (claims, leases, records) and the restore executor
 * (Kubernetes and the data path). The executor never touches the database: it reports through
 * the hooks, and throws RestoreRefusedError (a reason the user can act on) or
 * RestoreCancelledError.
 */
import type { RestoreCheck } from '@nkvm/backstage-plugin-volume-manager-common';
import type { StoredRestore } from '../../database/RestoreStore';
import type { ArchiveSink } from '../ArchiveSinks/types';

export interface RestoreHooks {
  signal: AbortSignal;
  /** Phase changes, progress (at most every 2 s is stored), checks, the helper pod. */
  onPhase(phase: 'verifying' | 'preflight' | 'restoring'): void;
  onProgress(bytesDone: number, bytesTotal: number | null): void;
  onScan(result: { entries: number; uncompressedBytes: number }): void;
  onChecks(checks: RestoreCheck[]): void;
  onHelperPod(name: string | null): void;
  /** A new PVC was created for this restore (a failure must delete it; recorded for the janitor). */
  onCreatedPvc(): void;
  /**
   * `replace` with a safety backup: runs a backup of the target PVC to the source's destination
   * and resolves when it succeeded (rejects with its error otherwise). Provided by the worker,
   * which uses the backup path; the executor calls it after preflight, before writing.
   */
  safetyBackup(): Promise<string>;
}

export interface RestoreOutcome {
  entries: number;
  uncompressedBytes: number;
}

export class RestoreRefusedError extends Error {
  readonly name = 'RestoreRefusedError';
}

export class RestoreCancelledError extends Error {
  readonly name = 'RestoreCancelledError';
  constructor() {
    super('The restore was canceled');
  }
}

export interface RestoreExecutor {
  /**
   * Verifies the archive (sha256 against the record and the sidecar, tar pre-scan), checks the
   * target, writes it through a helper pod that mounts the target read-write, and cleans up
   * (helper pod always; a PVC it created, on failure).
   */
  run(restore: StoredRestore, sink: ArchiveSink, hooks: RestoreHooks): Promise<RestoreOutcome>;
  /** Removes what an interrupted restore left: its helper pod, and its new PVC if it created one. */
  cleanup(restore: StoredRestore): Promise<void>;
}
