/*
 * The `rsync` destination: the archive is staged locally (under `<backupDir>/.staging/`), then
 * the system `rsync` sends it over ssh to `<file>.partial`, the size and sha256 are checked on
 * the server (`stat`, `sha256sum`), the `.sha256` sidecar is written, and the archive is renamed
 * to its final name (`mv`). The staged copy is removed afterwards, or moved into the local
 * layout when `keepLocalCopy` is set. A staged file can be re-sent, so rsync failures are
 * retried with backoff without re-reading the volume.
 *
 * Host-key pinning: before rsync runs, an ssh2 connection checks the server's key against
 * `hostKeySha256` (sshConnection.ts) and the key it presented is written to a private
 * known_hosts file. OpenSSH then runs with `StrictHostKeyChecking=yes`, that file as its only
 * `UserKnownHostsFile`, no global file and `HostKeyAlgorithms` set to that key's type, so it
 * accepts exactly the pinned key and nothing else.
 *
 * Secrets never reach argv or the environment of a child process:
 * - a private key is written to a 0600 file in a fresh 0700 directory (`-i`, `IdentitiesOnly`);
 * - a password is written to a 0600 file there, and `SSH_ASKPASS` points at a 0700 script in the
 *   same directory that prints it (`SSH_ASKPASS_REQUIRE=force`, so no terminal is involved).
 *   Only the backend's own user can read either file; both are deleted when the upload ends.
 * - children get a minimal environment (PATH, LANG, the askpass variables), not the backend's.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { constants as fsConstants, createReadStream, createWriteStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LoggerService } from '@backstage/backend-plugin-api';
import {
  archivePathsUnder,
  connectHostOf,
  messageOf,
  portOf,
  remoteArchivePaths,
  remoteUri,
  remoteUriPath,
  withLoggedRetry,
  describeRemote,
  type RemoteDestination,
  type RetryPolicy,
} from './remoteDestination';
import { checksumTimeoutMs, connectSsh, describeSshTarget, shellQuote, type SshSession } from './sshConnection';
import { MAX_SIDECAR_BYTES, parseSidecar } from './sidecar';
import {
  ArchiveSinkError,
  archiveRelativePath,
  type ArchiveDownload,
  type ArchiveSink,
  type ArchiveTarget,
  type ArchiveUpload,
} from './types';

const STDERR_TAIL = 2000;

function hostKeyAlgorithms(type: string): string {
  return type === 'ssh-rsa' ? 'rsa-sha2-512,rsa-sha2-256,ssh-rsa' : type;
}

/** rsync exit codes worth a retry: socket/protocol I/O, timeouts, and ssh connection drops. */
function rsyncTransient(code: number | null, stderr: string): boolean {
  if (/Permission denied|Host key verification failed|REMOTE HOST IDENTIFICATION|No such file|not a directory/i.test(stderr)) {
    return false;
  }
  if (code === 255) return /Connection (refused|reset|closed|timed out)|timed out|Broken pipe|kex_exchange/i.test(stderr);
  return code === null || [10, 11, 12, 23, 30, 35].includes(code);
}

export class RsyncArchiveSink implements ArchiveSink {
  readonly id: string;
  readonly type = 'rsync';

  constructor(
    private readonly destination: RemoteDestination,
    private readonly options: {
      retry: RetryPolicy;
      logger: LoggerService;
      backupDir: string;
      /** The rsync binary, `rsync` on PATH by default. */
      rsyncPath?: string;
    },
  ) {
    this.id = destination.id;
  }

  describe() {
    return describeRemote(this.destination);
  }

  private retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withLoggedRetry(describeSshTarget(this.destination), what, { ...this.options, destinationId: this.id }, fn);
  }

  /** Runs a remote command and throws when it fails. */
  private async run(session: SshSession, command: string, timeoutMs?: number): Promise<string> {
    const { code, stdout, stderr } = await session.exec(command, { timeoutMs });
    if (code !== 0) {
      throw new ArchiveSinkError(
        `${describeSshTarget(this.destination)}: '${command}' failed with exit code ${code}: ${stderr.trim().slice(-500)}`,
        { transient: false },
      );
    }
    return stdout;
  }

  /** `user@host` as rsync's remote-shell syntax wants the host: bracketed IPv6. */
  private rsyncHost(): string {
    const connectHost = connectHostOf(this.destination);
    return connectHost.includes(':') ? `[${connectHost}]` : connectHost;
  }

  /**
   * Runs `rsync <transfer>` over an ssh that accepts exactly the pinned `hostKey` (written to a
   * private known_hosts in `controlDir`) and authenticates with a key file or an askpass script
   * in `controlDir`: no secret in argv or the environment.
   */
  private async runRsync(
    hostKey: { type: string; blob: Buffer },
    controlDir: string,
    transfer: string[],
    signal?: AbortSignal,
  ): Promise<void> {
    const d = this.destination;
    const where = describeSshTarget(d);
    const timeoutMs = this.options.retry.timeoutMs;
    const knownHosts = path.join(controlDir, 'known_hosts');
    // ssh connects to the checked address of a one-off destination, never resolving its name again.
    const connectHost = connectHostOf(d);
    const hostPattern = portOf(d) === 22 ? connectHost : `[${connectHost}]:${portOf(d)}`;
    await fs.writeFile(knownHosts, `${hostPattern} ${hostKey.type} ${hostKey.blob.toString('base64')}\n`, {
      mode: 0o600,
    });
    const sshArgs = [
      'ssh', '-F', '/dev/null', '-p', String(portOf(d)),
      '-o', 'StrictHostKeyChecking=yes',
      '-o', `UserKnownHostsFile=${knownHosts}`,
      '-o', 'GlobalKnownHostsFile=/dev/null',
      '-o', `HostKeyAlgorithms=${hostKeyAlgorithms(hostKey.type)}`,
      '-o', 'CheckHostIP=no',
      '-o', 'UpdateHostKeys=no',
      '-o', `ConnectTimeout=${Math.ceil(timeoutMs / 1000)}`,
      '-o', 'ServerAliveInterval=15',
      '-o', 'ServerAliveCountMax=4',
    ];
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', HOME: controlDir };
    if (d.privateKey) {
      const keyFile = path.join(controlDir, 'id');
      await fs.writeFile(keyFile, d.privateKey.endsWith('\n') ? d.privateKey : `${d.privateKey}\n`, { mode: 0o600 });
      sshArgs.push('-i', keyFile, '-o', 'IdentitiesOnly=yes', '-o', 'PreferredAuthentications=publickey', '-o', 'BatchMode=yes');
    } else {
      const secret = path.join(controlDir, 'secret');
      const askpass = path.join(controlDir, 'askpass');
      await fs.writeFile(secret, d.password ?? '', { mode: 0o600 });
      await fs.writeFile(askpass, `#!/bin/sh\nexec cat ${shellQuote(secret)}\n`, { mode: 0o700 });
      sshArgs.push(
        '-o', 'PubkeyAuthentication=no',
        '-o', 'PreferredAuthentications=password,keyboard-interactive',
        '-o', 'NumberOfPasswordPrompts=1',
      );
      Object.assign(env, { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: 'none' });
    }
    const args = [
      '-t', '--chmod=F640',
      `--timeout=${Math.ceil(Math.max(timeoutMs, 30_000) / 1000)}`,
      '-e', sshArgs.map(a => (/[\s'"\\]/.test(a) ? shellQuote(a) : a)).join(' '),
      '--', ...transfer,
    ];
    await new Promise<void>((resolve, reject) => {
      const child = spawn(this.options.rsyncPath ?? 'rsync', args, {
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
        detached: true, // its own session: no controlling terminal for ssh to prompt on
        signal, // cancel ends the transfer (rsync's own --timeout bounds a stalled server)
      });
      let stderr = '';
      child.stderr!.on('data', c => (stderr = (stderr + c).slice(-STDERR_TAIL)));
      child.on('error', error =>
        reject(
          new ArchiveSinkError(signal?.aborted ? `${where}: cancelled` : `${where}: cannot run rsync: ${error.message}`, {
            transient: false,
          }),
        ),
      );
      child.on('close', code => {
        if (code === 0) resolve();
        else {
          reject(
            new ArchiveSinkError(`${where}: rsync exited with code ${code}: ${stderr.trim().slice(-500)}`, {
              transient: rsyncTransient(code, stderr),
            }),
          );
        }
      });
    });
  }

  async open(target: ArchiveTarget, openOptions?: { signal?: AbortSignal }): Promise<ArchiveUpload> {
    const d = this.destination;
    const where = describeSshTarget(d);
    const paths = remoteArchivePaths(d.remoteDir, target);
    const timeoutMs = this.options.retry.timeoutMs;

    // Fail fast on host key, credentials and the remote directory, before the helper pod starts.
    const hostKey = await this.retry('connecting', async () => {
      const session = await connectSsh(d, timeoutMs, openOptions?.signal);
      try {
        await this.run(session, `mkdir -p -- ${shellQuote(paths.dir)}`);
        return session.hostKey;
      } finally {
        session.close();
      }
    });

    const stageDir = path.resolve(this.options.backupDir, '.staging', randomUUID());
    await fs.mkdir(stageDir, { recursive: true, mode: 0o700 });
    const staged = path.join(stageDir, paths.fileName);
    const stream = createWriteStream(staged, { flags: 'wx', mode: 0o600, highWaterMark: 1024 * 1024 });
    const closed = new Promise<void>((resolve, reject) => {
      stream.once('close', resolve);
      stream.once('error', reject);
    });
    closed.catch(() => {});
    const uri = remoteUri('rsync', d, paths.file, true);
    let sidecarCreated = false;

    const rsync = (controlDir: string, signal?: AbortSignal) =>
      this.runRsync(hostKey, controlDir, [staged, `${d.username}@${this.rsyncHost()}:${paths.partial}`], signal);

    const removeStage = () => fs.rm(stageDir, { recursive: true, force: true });

    return {
      stream,
      commit: async ({ sha256, bytes }, commitOptions) => {
        const signal = commitOptions?.signal;
        if (!stream.writableEnded) stream.end();
        await closed;
        const handle = await fs.open(staged, 'r');
        try {
          await handle.sync();
          const { size } = await handle.stat();
          if (size !== bytes) throw new Error(`The staged archive has ${size} bytes, expected ${bytes}`);
        } finally {
          await handle.close();
        }
        const sidecarLine = `${sha256}  ${paths.fileName}\n`;
        await this.retry('uploading with rsync', async () => {
          const controlDir = await fs.mkdtemp(controlDirPrefix(os.tmpdir(), process.pid));
          try {
            await fs.chmod(controlDir, 0o700);
            await rsync(controlDir, signal);
          } finally {
            await fs.rm(controlDir, { recursive: true, force: true });
          }
        });
        await this.retry('verifying and renaming', async () => {
          const session = await connectSsh(d, timeoutMs, signal);
          try {
            const done = await session.exec(`stat -c %s -- ${shellQuote(paths.file)}`);
            if (done.code === 0 && Number(done.stdout.trim()) === bytes) return;
            const size = Number((await this.run(session, `stat -c %s -- ${shellQuote(paths.partial)}`)).trim());
            if (size !== bytes) {
              throw new ArchiveSinkError(`${where}: the server holds ${size} bytes of ${paths.partial}, expected ${bytes}`, {
                transient: false,
              });
            }
            const sum = /^([0-9a-f]{64})\s/.exec(
              await this.run(session, `sha256sum -- ${shellQuote(paths.partial)}`, checksumTimeoutMs(timeoutMs, bytes)),
            )?.[1];
            if (sum !== sha256) {
              throw new ArchiveSinkError(`${where}: sha256 of ${paths.partial} on the server is ${sum}, expected ${sha256}`, {
                transient: false,
              });
            }
            await this.run(
              session,
              `printf '%s' ${shellQuote(sidecarLine)} > ${shellQuote(paths.sidecarPartial)} && mv -f -- ${shellQuote(paths.sidecarPartial)} ${shellQuote(paths.sidecar)}`,
            );
            sidecarCreated = true;
            await this.run(session, `mv -- ${shellQuote(paths.partial)} ${shellQuote(paths.file)}`);
          } finally {
            session.close();
          }
        });
        if (d.keepLocalCopy) {
          const local = path.resolve(this.options.backupDir, ...archiveRelativePath(target));
          await fs.mkdir(path.dirname(local), { recursive: true });
          await fs.writeFile(`${local}.sha256`, sidecarLine);
          await fs.rename(staged, local);
        }
        await removeStage();
        return { uri };
      },
      abort: async () => {
        if (!stream.destroyed) stream.destroy();
        await closed.catch(() => {});
        await removeStage();
        const session = await connectSsh(d, Math.min(5000, timeoutMs)).catch((error: unknown) => {
          throw new Error(`${where}: could not remove ${paths.partial}: ${messageOf(error)}`);
        });
        try {
          const files = [paths.partial, paths.sidecarPartial, ...(sidecarCreated ? [paths.sidecar] : [])];
          await session.exec(`rm -f -- ${files.map(shellQuote).join(' ')}`);
        } finally {
          session.close();
        }
      },
    };
  }

  /**
   * Reads back an archive this sink wrote: after the host-key check and a `test -f` of both files
   * (so a missing one is named), rsync copies the archive and its sidecar into a private
   * directory under `<backupDir>/.staging/`, and the returned stream reads that copy. The copy
   * is removed when the stream closes (ended, destroyed or failed), or at once when anything
   * before that fails. rsync failures are retried with backoff; `signal` stops rsync.
   */
  async read(uri: string, options?: { signal?: AbortSignal }): Promise<ArchiveDownload> {
    const d = this.destination;
    const where = describeSshTarget(d);
    const uriPath = remoteUriPath('rsync', d, uri, true);
    // remoteUri writes relative paths (below the login directory) with a leading `/` too.
    const paths = archivePathsUnder(d.remoteDir, d.remoteDir.startsWith('/') ? uriPath : uriPath.slice(1));
    if (!paths) {
      throw new ArchiveSinkError(`${where}: refusing to read '${uri}': not an archive below ${d.remoteDir}`, {
        transient: false,
      });
    }
    const signal = options?.signal;
    const timeoutMs = this.options.retry.timeoutMs;

    const hostKey = await this.retry('connecting', async () => {
      const session = await connectSsh(d, timeoutMs, signal);
      try {
        for (const file of [paths.sidecar, paths.file]) {
          const { code } = await session.exec(`test -f ${shellQuote(file)} && test -r ${shellQuote(file)}`);
          if (code !== 0) {
            throw new ArchiveSinkError(`${where}: ${file} does not exist or cannot be read`, { transient: false });
          }
        }
        return session.hostKey;
      } finally {
        session.close();
      }
    });

    const stageDir = path.resolve(this.options.backupDir, '.staging', randomUUID());
    await fs.mkdir(stageDir, { recursive: true, mode: 0o700 });
    const removeStage = () => fs.rm(stageDir, { recursive: true, force: true });
    try {
      const remote = `${d.username}@${this.rsyncHost()}`;
      await this.retry('downloading with rsync', async () => {
        const controlDir = await fs.mkdtemp(controlDirPrefix(os.tmpdir(), process.pid));
        try {
          await fs.chmod(controlDir, 0o700);
          await this.runRsync(
            hostKey,
            controlDir,
            [`${remote}:${paths.sidecar}`, `${remote}:${paths.file}`, `${stageDir}/`],
            signal,
          );
        } finally {
          await fs.rm(controlDir, { recursive: true, force: true });
        }
      });
      // rsync (without -l) skips what is not a regular file: a symlink on the server arrives as nothing.
      const staged = (name: string, remoteFile: string) =>
        fs.open(path.join(stageDir, name), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW).catch(error => {
          throw new ArchiveSinkError(`${where}: ${remoteFile} did not arrive (not a regular file?): ${messageOf(error)}`, {
            transient: false,
            cause: error,
          });
        });
      const sidecarHandle = await staged(`${paths.fileName}.sha256`, paths.sidecar);
      let sidecarText: string;
      try {
        const buffer = Buffer.alloc(MAX_SIDECAR_BYTES + 1);
        const { bytesRead } = await sidecarHandle.read(buffer, 0, buffer.length, 0);
        sidecarText = buffer.subarray(0, bytesRead).toString('utf8');
      } finally {
        await sidecarHandle.close();
      }
      const sidecarSha256 = parseSidecar(sidecarText, paths.fileName, `${where}: ${paths.sidecar}`);
      const handle = await staged(paths.fileName, paths.file);
      const { size } = await handle.stat().catch(async error => {
        await handle.close();
        throw error;
      });
      const stream = createReadStream('', { fd: handle, highWaterMark: 1024 * 1024, autoClose: true });
      const onAbort = () => stream.destroy(new ArchiveSinkError(`${where}: cancelled`, { transient: false }));
      signal?.addEventListener('abort', onAbort, { once: true });
      stream.once('close', () => {
        signal?.removeEventListener('abort', onAbort);
        removeStage().catch(error =>
          this.options.logger.warn(`${where}: could not remove the staged copy ${stageDir}: ${messageOf(error)}`, {
            destination: this.id,
          }),
        );
      });
      if (signal?.aborted) onAbort();
      return { stream, bytes: size, sidecarSha256 };
    } catch (error) {
      await removeStage();
      throw error;
    }
  }
}

/**
 * Removes staging directories (`<backupDir>/.staging/<uuid>`) nothing has touched for
 * `staleMs`: what a backend killed mid-upload left behind. Returns the removed directories.
 */
export async function sweepStaleStaging(backupDir: string, staleMs: number, now = Date.now()): Promise<string[]> {
  const root = path.resolve(backupDir, '.staging');
  const entries = await fs.readdir(root, { withFileTypes: true }).catch(() => []);
  const removed: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const dir = path.join(root, entry.name);
    const times = [(await fs.stat(dir).catch(() => undefined))?.mtimeMs ?? 0];
    for (const file of await fs.readdir(dir).catch(() => [] as string[])) {
      times.push((await fs.stat(path.join(dir, file)).catch(() => undefined))?.mtimeMs ?? 0);
    }
    if (now - Math.max(...times) > staleMs) {
      await fs.rm(dir, { recursive: true, force: true });
      removed.push(dir);
    }
  }
  return removed;
}

const CONTROL_DIR = /^nkvm-rsync-(?:(\d+)-)?[A-Za-z0-9]+$/;

/** Control directories are `<tmp>/nkvm-rsync-<pid>-<random>`, named after the process. */
function controlDirPrefix(tmpDir: string, pid: number): string {
  return path.join(tmpDir, `nkvm-rsync-${pid}-`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes rsync control directories (private key, password file, askpass script, known_hosts)
 * that a backend killed mid-upload left in the temp directory; run at start-up. A directory
 * goes when the process that made it no longer runs, or when it carries this process's pid but
 * is older than this process (a restarted container often gets the same pid). Directories of
 * other live processes, and this process's own, stay. Unnamed (older) ones go after a day.
 */
export async function sweepOrphanedControlDirs(
  tmpDir = os.tmpdir(),
  options: { pid?: number; startedAt?: number; now?: number } = {},
): Promise<string[]> {
  const pid = options.pid ?? process.pid;
  const now = options.now ?? Date.now();
  const startedAt = options.startedAt ?? now - process.uptime() * 1000;
  const removed: string[] = [];
  for (const entry of await fs.readdir(tmpDir, { withFileTypes: true }).catch(() => [])) {
    const match = entry.isDirectory() ? CONTROL_DIR.exec(entry.name) : null;
    if (!match) continue;
    const dir = path.join(tmpDir, entry.name);
    const info = await fs.stat(dir).catch(() => undefined);
    if (!info) continue;
    const owner = match[1] ? Number(match[1]) : undefined;
    let orphaned: boolean;
    if (owner === undefined) orphaned = now - info.mtimeMs > 24 * 60 * 60 * 1000;
    else if (owner === pid) orphaned = info.mtimeMs < startedAt;
    else orphaned = !isRunning(owner);
    if (orphaned) {
      await fs.rm(dir, { recursive: true, force: true });
      removed.push(dir);
    }
  }
  return removed;
}
