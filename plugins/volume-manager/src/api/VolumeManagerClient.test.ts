import type { DiscoveryApi, FetchApi } from '@backstage/core-plugin-api';
import { ResponseError } from '@backstage/errors';
import { fakeResponse } from '../__fixtures__/fakeVolumeManagerApi';
import { fileNameOf, VolumeManagerClient } from './VolumeManagerClient';
import { errorMessage, isEndpointUnavailable } from './errors';

const BASE = 'http://localhost:7007/api/volume-manager';

function setup(response: Response = fakeResponse(200, {})) {
  const discoveryApi: DiscoveryApi = {
    getBaseUrl: jest.fn(async (pluginId: string) =>
      pluginId === 'volume-manager' ? BASE : 'http://wrong.example',
    ),
  };
  const fetch = jest.fn(async () => response);
  const fetchApi: FetchApi = { fetch: fetch as unknown as FetchApi['fetch'] };
  const client = new VolumeManagerClient({ discoveryApi, fetchApi });
  return { client, fetch, discoveryApi };
}

describe('VolumeManagerClient', () => {
  it('resolves the base URL of the volume-manager plugin', async () => {
    const { client, discoveryApi, fetch } = setup(
      fakeResponse(200, { status: 'ok' }),
    );
    await expect(client.getHealth()).resolves.toEqual({ status: 'ok' });
    expect(discoveryApi.getBaseUrl).toHaveBeenCalledWith('volume-manager');
    expect(fetch).toHaveBeenCalledWith(`${BASE}/health`, { method: 'GET' });
  });

  it('puts the volume filters in the query string, encoded, and skips empty ones', async () => {
    const { client, fetch } = setup(fakeResponse(200, { items: [], errors: [] }));
    await client.getVolumes({
      entityRef: 'component:default/payments-api',
      cluster: 'kube sim',
      namespace: undefined,
    });
    expect(fetch).toHaveBeenCalledWith(
      `${BASE}/volumes?entityRef=component%3Adefault%2Fpayments-api&cluster=kube+sim`,
      { method: 'GET' },
    );

    await client.getVolumes();
    expect(fetch).toHaveBeenLastCalledWith(`${BASE}/volumes`, { method: 'GET' });
  });

  it('pages the backup history with limit and cursor', async () => {
    const { client, fetch } = setup(
      fakeResponse(200, { items: [], nextCursor: null }),
    );
    await client.listBackups({ pvc: 'data-0', status: 'failed', limit: 20, cursor: 'abc' });
    expect(fetch).toHaveBeenCalledWith(
      `${BASE}/backups?pvc=data-0&status=failed&limit=20&cursor=abc`,
      { method: 'GET' },
    );
  });

  it('posts a backup request as JSON', async () => {
    const { client, fetch } = setup(fakeResponse(202, { id: 'run-1' }));
    const request = {
      cluster: 'kube-sim',
      volumes: [{ namespace: 'payments', name: 'data-0' }],
      destination: 'local',
    };
    await expect(client.createBackup(request)).resolves.toEqual({ id: 'run-1' });
    expect(fetch).toHaveBeenCalledWith(`${BASE}/backups`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(request),
    });
  });

  it('encodes ids in run, cancel and archive paths', async () => {
    const { client, fetch } = setup(fakeResponse(200, {}));
    await client.getBackupRun('run/1');
    await client.cancelBackupRun('run 2');
    await client.downloadArchive('run-3', '../item');
    expect(fetch.mock.calls.map(call => (call as unknown[])[0])).toEqual([
      `${BASE}/backups/run%2F1`,
      `${BASE}/backups/run%202/cancel`,
      `${BASE}/backups/run-3/items/..%2Fitem/archive`,
    ]);
    expect((fetch.mock.calls[1] as unknown[])[1]).toEqual({ method: 'POST' });
  });

  it('posts a restore request as JSON and reads, cancels and lists restores by encoded id', async () => {
    const { client, fetch } = setup(fakeResponse(202, { id: 'r-1', phase: 'queued' }));
    const request = {
      itemId: 'item-1',
      target: {
        type: 'existingPvc' as const,
        cluster: 'kube-sim',
        namespace: 'payments',
        name: 'data-0',
        mode: 'replace' as const,
        confirm: 'data-0',
        safetyBackup: true,
      },
      ownership: 'preserve' as const,
    };
    await expect(client.createRestore(request)).resolves.toEqual({ id: 'r-1', phase: 'queued' });
    expect(fetch).toHaveBeenLastCalledWith(`${BASE}/restores`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(request),
    });

    await client.getRestore('r/1');
    await client.cancelRestore('../r 2');
    await client.listRestores({ entityRef: 'component:default/payments-api', pvc: 'data-0', limit: 50, cursor: undefined });
    await client.listRestores();
    expect(fetch.mock.calls.slice(1).map(call => (call as unknown[]).slice(0, 2))).toEqual([
      [`${BASE}/restores/r%2F1`, { method: 'GET' }],
      [`${BASE}/restores/..%2Fr%202/cancel`, { method: 'POST' }],
      [`${BASE}/restores?entityRef=component%3Adefault%2Fpayments-api&pvc=data-0&limit=50`, { method: 'GET' }],
      [`${BASE}/restores`, { method: 'GET' }],
    ]);
  });

  it('rejects a refused restore with the backend error envelope', async () => {
    const { client } = setup(
      fakeResponse(409, {
        error: { name: 'ConflictError', message: 'payments/data-0 is mounted by pod db-0 (StatefulSet/db)' },
        request: { method: 'POST', url: '/restores' },
        response: { statusCode: 409 },
      }),
    );
    const error = await client
      .createRestore({ itemId: 'i', target: { type: 'newPvc', cluster: 'c', namespace: 'n' } })
      .catch(e => e);
    expect(error).toBeInstanceOf(ResponseError);
    expect(error.statusCode).toBe(409);
    expect(error.cause.message).toBe('payments/data-0 is mounted by pod db-0 (StatefulSet/db)');
    // What a user is shown is the backend's reason, not "Request failed with 409".
    expect(error.message).not.toContain('mounted by');
    expect(errorMessage(error)).toBe('payments/data-0 is mounted by pod db-0 (StatefulSet/db)');
    expect(errorMessage(new Error('network down'))).toBe('network down');
  });

  it('calls the cluster, destination and session routes', async () => {
    const { client, fetch } = setup(fakeResponse(200, {}));
    await client.getClusters();
    await client.getDestinations();
    await client.createClusterSession({
      name: 'debug',
      kubeconfig: 'apiVersion: v1',
    });
    expect(fetch.mock.calls.map(call => (call as unknown[])[0])).toEqual([
      `${BASE}/clusters`,
      `${BASE}/destinations`,
      `${BASE}/clusters/session`,
    ]);
  });

  it('throws a ResponseError carrying the backend error envelope', async () => {
    const { client } = setup(
      fakeResponse(
        403,
        {
          error: { name: 'NotAllowedError', message: 'Access denied' },
          request: { method: 'POST', url: '/backups' },
          response: { statusCode: 403 },
        },
        'Forbidden',
      ),
    );
    const error = await client
      .createBackup({ cluster: 'c', volumes: [], destination: 'local' })
      .catch(e => e);
    expect(error).toBeInstanceOf(ResponseError);
    expect(error.statusCode).toBe(403);
    expect(error.cause.name).toBe('NotAllowedError');
    expect(error.cause.message).toBe('Access denied');
    expect(isEndpointUnavailable(error)).toBe(false);
  });

  it('maps a 404 without an error body to "endpoint unavailable"', async () => {
    const { client } = setup(fakeResponse(404, undefined, 'Not Found'));
    const error = await client.getVolumes({}).catch(e => e);
    expect(error).toBeInstanceOf(ResponseError);
    expect(isEndpointUnavailable(error)).toBe(true);
  });

  it('does not treat a NotFoundError from an existing route as unavailable', async () => {
    const { client } = setup(
      fakeResponse(404, {
        error: { name: 'NotFoundError', message: "No backup run 'x'" },
        request: { method: 'GET', url: '/backups/x' },
        response: { statusCode: 404 },
      }),
    );
    const error = await client.getBackupRun('x').catch(e => e);
    expect(error.statusCode).toBe(404);
    expect(isEndpointUnavailable(error)).toBe(false);
  });

  it('treats 501 as unavailable and anything that is not a ResponseError as not', () => {
    expect(
      isEndpointUnavailable({ name: 'ResponseError', statusCode: 501 }),
    ).toBe(true);
    expect(isEndpointUnavailable(new Error('404'))).toBe(false);
    expect(isEndpointUnavailable(undefined)).toBe(false);
  });

  it('returns the archive with its file name and recorded sha256 when the headers are readable', async () => {
    const response = {
      ok: true,
      status: 200,
      headers: new Headers({
        'Content-Disposition': 'attachment; filename="data-0-20261126T054455Z.tar.gz"',
        'X-Checksum-Sha256': 'ab'.repeat(32),
      }),
      blob: async () => new Blob(['tgz']),
    } as unknown as Response;
    const { client } = setup(response);
    const archive = await client.downloadArchive('run-1', 'item-1');
    expect(archive.fileName).toBe('data-0-20261126T054455Z.tar.gz');
    expect(archive.sha256).toBe('ab'.repeat(32));
    expect(archive.blob.size).toBe(3);
  });
});

describe('fileNameOf', () => {
  it('reads plain, quoted and RFC 5987 file names, and drops any path', () => {
    expect(fileNameOf(null)).toBeNull();
    expect(fileNameOf('attachment')).toBeNull();
    expect(fileNameOf('attachment; filename=a.tar.gz')).toBe('a.tar.gz');
    expect(fileNameOf('attachment; filename="b c.tar.gz"')).toBe('b c.tar.gz');
    expect(fileNameOf("attachment; filename*=UTF-8''d%C3%A9j%C3%A0.tar.gz")).toBe('déjà.tar.gz');
    expect(fileNameOf('attachment; filename="../../etc/passwd"')).toBe('passwd');
  });
});
