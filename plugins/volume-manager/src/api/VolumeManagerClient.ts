import type { DiscoveryApi, FetchApi } from '@backstage/core-plugin-api';
import { ResponseError } from '@backstage/errors';
import {
  VOLUME_MANAGER_PLUGIN_ID,
  type BackupListResponse,
  type BackupRun,
  type ClusterSummary,
  type ClustersResponse,
  type CreateBackupRequest,
  type CreateRestoreRequest,
  type DestinationsResponse,
  type Restore,
  type RestoreListResponse,
  type VolumesResponse,
} from '@nkvm/backstage-plugin-volume-manager-common';
import type {
  ArchiveDownload,
  BackupListQuery,
  CreateClusterSessionRequest,
  HealthResponse,
  RestoreListQuery,
  VolumeManagerApi,
  VolumesQuery,
} from './VolumeManagerApi';

type Query = Record<string, string | number | undefined>;

/**
 * The default {@link VolumeManagerApi}: calls `/api/volume-manager` through the `FetchApi`, which
 * attaches the signed-in user's Backstage token.
 *
 * @public
 */
export class VolumeManagerClient implements VolumeManagerApi {
  private readonly discoveryApi: DiscoveryApi;
  private readonly fetchApi: FetchApi;

  constructor(options: { discoveryApi: DiscoveryApi; fetchApi: FetchApi }) {
    this.discoveryApi = options.discoveryApi;
    this.fetchApi = options.fetchApi;
  }

  async getHealth(): Promise<HealthResponse> {
    return this.request('GET', '/health');
  }

  async getClusters(): Promise<ClustersResponse> {
    return this.request('GET', '/clusters');
  }

  async getVolumes(query: VolumesQuery = {}): Promise<VolumesResponse> {
    return this.request('GET', '/volumes', { query: { ...query } });
  }

  async createBackup(request: CreateBackupRequest): Promise<BackupRun> {
    return this.request('POST', '/backups', { body: request });
  }

  async listBackups(query: BackupListQuery = {}): Promise<BackupListResponse> {
    return this.request('GET', '/backups', { query: { ...query } });
  }

  async getBackupRun(runId: string): Promise<BackupRun> {
    return this.request('GET', `/backups/${encodeURIComponent(runId)}`);
  }

  async cancelBackupRun(runId: string): Promise<BackupRun> {
    return this.request(
      'POST',
      `/backups/${encodeURIComponent(runId)}/cancel`,
    );
  }

  async downloadArchive(
    runId: string,
    itemId: string,
  ): Promise<ArchiveDownload> {
    const response = await this.send(
      'GET',
      `/backups/${encodeURIComponent(runId)}/items/${encodeURIComponent(
        itemId,
      )}/archive`,
    );
    return {
      blob: await response.blob(),
      fileName: fileNameOf(response.headers.get('Content-Disposition')),
      sha256: response.headers.get('X-Checksum-Sha256'),
    };
  }

  async getDestinations(): Promise<DestinationsResponse> {
    return this.request('GET', '/destinations');
  }

  async createRestore(request: CreateRestoreRequest): Promise<Restore> {
    return this.request('POST', '/restores', { body: request });
  }

  async getRestore(restoreId: string): Promise<Restore> {
    return this.request('GET', `/restores/${encodeURIComponent(restoreId)}`);
  }

  async cancelRestore(restoreId: string): Promise<Restore> {
    return this.request(
      'POST',
      `/restores/${encodeURIComponent(restoreId)}/cancel`,
    );
  }

  async listRestores(
    query: RestoreListQuery = {},
  ): Promise<RestoreListResponse> {
    return this.request('GET', '/restores', { query: { ...query } });
  }

  async createClusterSession(
    request: CreateClusterSessionRequest,
  ): Promise<ClusterSummary> {
    return this.request('POST', '/clusters/session', { body: request });
  }

  private async request<T>(
    method: 'GET' | 'POST',
    path: string,
    options: { query?: Query; body?: unknown } = {},
  ): Promise<T> {
    const response = await this.send(method, path, options);
    return (await response.json()) as T;
  }

  private async send(
    method: 'GET' | 'POST',
    path: string,
    options: { query?: Query; body?: unknown } = {},
  ): Promise<Response> {
    const baseUrl = await this.discoveryApi.getBaseUrl(
      VOLUME_MANAGER_PLUGIN_ID,
    );
    const response = await this.fetchApi.fetch(
      `${baseUrl}${path}${toQueryString(options.query)}`,
      options.body === undefined
        ? { method }
        : {
            method,
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify(options.body),
          },
    );
    if (!response.ok) {
      throw await ResponseError.fromResponse(response);
    }
    return response;
  }
}

function toQueryString(query: Query | undefined): string {
  if (!query) {
    return '';
  }
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') {
      params.append(key, String(value));
    }
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** The file name of a `Content-Disposition: attachment; filename="x"` header, without any path. */
export function fileNameOf(header: string | null): string | null {
  if (!header) {
    return null;
  }
  const encoded = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(header);
  let name: string | undefined;
  if (encoded) {
    try {
      name = decodeURIComponent(encoded[1].trim());
    } catch {
      name = undefined;
    }
  }
  if (!name) {
    const plain = /filename\s*=\s*("([^"]*)"|[^;]+)/i.exec(header);
    name = plain ? (plain[2] ?? plain[1]).trim() : undefined;
  }
  const base = name?.split(/[\\/]/).pop();
  return base ? base : null;
}
