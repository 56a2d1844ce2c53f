/*
 * Which sink serves a destination id: `local`, a configured remote destination, a sink added
 * through `volumeManagerArchiveSinkExtensionPoint`, or a one-off (ad-hoc) destination.
 *
 * Ad-hoc destinations carry secrets, so they live in this replica's memory only, keyed by item
 * id, from the request until the item ends. The database stores `adhoc:<type>` and nothing
 * more; logs, audit events and API responses never see its secrets. Its sink is wrapped in an
 * AdHocArchiveSink, so the item records `adhoc://<type>/<file>` and a generic error, never the
 * host, port, user or path (the backend log gets the failure details). Only this replica can run
 * such an item (the worker claims `adhoc:*` items only when it holds their spec). If the
 * replica stops, its running ad-hoc items end `interrupted` when their lease expires, and no
 * other replica can continue them.
 */
import type { LoggerService } from '@backstage/backend-plugin-api';
import type { DestinationSummary, DestinationType } from '@nkvm/backstage-plugin-volume-manager-common';
import { AdHocArchiveSink } from './AdHocArchiveSink';
import { FtpArchiveSink } from './FtpArchiveSink';
import type { LocalArchiveSink } from './LocalArchiveSink';
import type { RemoteDestination, RetryPolicy } from './remoteDestination';
import { RsyncArchiveSink } from './RsyncArchiveSink';
import { ScpArchiveSink } from './ScpArchiveSink';
import type { ArchiveSink } from './types';

export const AD_HOC_PREFIX = 'adhoc:';

export interface RemoteSinkOptions {
  retry: RetryPolicy;
  logger: LoggerService;
  backupDir: string;
}

export function createRemoteSink(destination: RemoteDestination, options: RemoteSinkOptions): ArchiveSink {
  switch (destination.type) {
    case 'ftp':
    case 'ftps':
      return new FtpArchiveSink(destination, options);
    case 'scp':
      return new ScpArchiveSink(destination, options);
    case 'rsync':
      return new RsyncArchiveSink(destination, options);
    default:
      throw new Error(`Unknown destination type '${(destination as { type: string }).type}'`);
  }
}

export class ArchiveSinkRegistry {
  private readonly sinks = new Map<string, ArchiveSink>();
  private readonly adHoc = new Map<string, AdHocArchiveSink>();

  constructor(
    private readonly options: RemoteSinkOptions & {
      localSink: LocalArchiveSink;
      configured: RemoteDestination[];
      /** Sinks from modules (the extension point). */
      extra: ArchiveSink[];
    },
  ) {
    this.sinks.set(options.localSink.id, options.localSink);
    for (const d of options.configured) this.sinks.set(d.id, createRemoteSink(d, options));
    for (const sink of options.extra) {
      if (this.sinks.has(sink.id) || sink.id.startsWith(AD_HOC_PREFIX)) {
        throw new Error(`Archive sink id '${sink.id}' is already taken or reserved`);
      }
      this.sinks.set(sink.id, sink);
    }
  }

  has(id: string): boolean {
    return this.sinks.has(id);
  }

  /** The sink for an item; throws (failing the item) when this replica cannot serve it. */
  sinkFor(item: { id: string; destination: string }): ArchiveSink {
    if (item.destination.startsWith(AD_HOC_PREFIX)) {
      const sink = this.adHoc.get(item.id);
      if (!sink) {
        throw new Error(
          'The one-off destination of this backup is gone: it is held in memory only, by the replica that received the request, and that replica restarted',
        );
      }
      return sink;
    }
    const sink = this.sinks.get(item.destination);
    if (!sink) throw new Error(`Destination '${item.destination}' is not configured on this replica`);
    return sink;
  }

  /** Holds a one-off destination for these items until {@link release}. */
  registerAdHoc(itemIds: string[], destination: RemoteDestination) {
    const sink = new AdHocArchiveSink(createRemoteSink(destination, this.options), this.options.logger);
    for (const id of itemIds) this.adHoc.set(id, sink);
  }

  /**
   * What an item's record says about its failure when a one-off destination caused it (a
   * generic text; the details are logged), or undefined to record the error as it is.
   */
  publicFailure(itemId: string, error: unknown): string | undefined {
    return this.adHoc.get(itemId)?.publicFailure(itemId, error);
  }

  release(itemId: string) {
    this.adHoc.delete(itemId);
  }

  /** Items whose one-off destination this replica holds (the only ad-hoc items it may claim). */
  adHocItemIds(): string[] {
    return [...this.adHoc.keys()];
  }

  /** For `GET /destinations`: ids, types and where they point; never secrets. */
  list(): DestinationSummary[] {
    const out: DestinationSummary[] = [];
    for (const sink of this.sinks.values()) {
      const info = sink.describe?.() ?? {};
      out.push({
        id: sink.id,
        // Module sinks may bring types of their own (s3, ...).
        type: sink.type as DestinationType,
        ...(info.host !== undefined ? { host: info.host } : {}),
        ...(info.port !== undefined ? { port: info.port } : {}),
        ...(info.username !== undefined ? { username: info.username } : {}),
        ...(info.remoteDir !== undefined ? { remoteDir: info.remoteDir } : {}),
      });
    }
    return out;
  }
}

