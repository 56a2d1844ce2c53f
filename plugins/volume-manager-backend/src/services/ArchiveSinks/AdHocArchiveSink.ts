/*
 * What a user learns from a one-off (ad-hoc) destination: that it worked, or that it failed,
 * nothing in between. A closed port, a refused or timed-out connection, a wrong host key, a
 * wrong password and a transfer that broke off all read the same, so a typed host and port
 * cannot map the network and a pinned host key cannot be turned into a password oracle. The
 * details go to the backend log (warn), for an administrator; they never hold a secret.
 *
 * The item keeps no host, port, user or path either: its archive URI is
 * `adhoc://<type>/<archive file name>`, its error the generic text below.
 */
import type { LoggerService } from '@backstage/backend-plugin-api';
import { messageOf } from './remoteDestination';
import {
  archiveRelativePath,
  type ArchiveSink,
  type ArchiveTarget,
  type ArchiveUpload,
} from './types';

/** The only failure text a user sees for a one-off destination. */
export function adHocFailureMessage(type: string): string {
  return `The upload to the one-off ${type.toUpperCase()} destination failed: it could not be reached, or the login, the host key check or the transfer failed. An administrator finds the details in the backend log.`;
}

/** The archive URI recorded for a one-off destination: its type and the file name, nothing else. */
export function adHocArchiveUri(type: string, target: ArchiveTarget): string {
  const segments = archiveRelativePath(target);
  return `adhoc://${type}/${encodeURIComponent(segments[segments.length - 1])}`;
}

/**
 * Wraps the sink of a one-off destination; recognizes every failure that came out of it.
 *
 * It has no `read`, on purpose, even when the wrapped sink has one: a one-off destination's
 * credentials live in memory for its backup only, and its archive URI (`adhoc://<type>/<file>`)
 * keeps no host, user or path, so nothing could read the archive back later. The backend refuses
 * a restore from such an archive with that reason; restore it by hand from the destination.
 */
export class AdHocArchiveSink implements ArchiveSink {
  readonly id: string;
  readonly type: string;
  private readonly failures = new WeakSet<object>();

  constructor(
    private readonly inner: ArchiveSink,
    private readonly logger: LoggerService,
  ) {
    this.id = inner.id;
    this.type = inner.type;
  }

  private mark(error: unknown): unknown {
    if (error && typeof error === 'object') this.failures.add(error);
    return error;
  }

  private async track<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw this.mark(error);
    }
  }

  async open(target: ArchiveTarget): Promise<ArchiveUpload> {
    const upload = await this.track(() => this.inner.open(target));
    // A failing remote fails the stream; the executor rethrows that very error.
    upload.stream.on('error', error => this.mark(error));
    return {
      stream: upload.stream,
      commit: async result => {
        await this.track(() => upload.commit(result));
        return { uri: adHocArchiveUri(this.type, target) };
      },
      abort: () => this.track(() => upload.abort()),
    };
  }

  /**
   * The text to record for a failure of an item this sink served: the generic text when the
   * failure came from the destination (logged here in full), undefined when it did not (a
   * helper pod or Kubernetes error, which says nothing about the destination).
   */
  publicFailure(itemId: string, error: unknown): string | undefined {
    if (!error || typeof error !== 'object' || !this.failures.has(error)) return undefined;
    this.logger.warn(`One-off ${this.type.toUpperCase()} destination failed: ${messageOf(error)}`, {
      itemId,
      destination: this.id,
    });
    return adHocFailureMessage(this.type);
  }
}
