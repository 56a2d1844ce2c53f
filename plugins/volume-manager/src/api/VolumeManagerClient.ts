import type { DiscoveryApi, FetchApi } from '@backstage/core-plugin-api';
import { ResponseError } from '@backstage/errors';
import {
  VOLUME_MANAGER_PLUGIN_ID,
  type BackupListResponse,
  type BackupRun,
  type ClusterSummary,
  type ClustersResponse,
  type CreateBackupRequest,
  type DestinationsResponse,
  type VolumesResponse,
} from '@nkvm/backstage-plugin-volume-manager-common';
import type {
  BackupListQuery,
  CreateClusterSessionRequest,
  HealthResponse,
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

  async downloadArchive(runId: string, itemId: string): Promise<Blob> {
    const response = await this.send(
      'GET',
      `/backups/${encodeURIComponent(runId)}/items/${encodeURIComponent(
        itemId,
      )}/archive`,
    );
    return response.blob();
  }

  async getDestinations(): Promise<DestinationsResponse> {
    return this.request('GET', '/destinations');
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
