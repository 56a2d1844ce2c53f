import { screen } from '@testing-library/react';
import { renderInTestApp, TestApiProvider } from '@backstage/test-utils';
import { volumeManagerApiRef, type VolumeManagerApi } from '../../api';
import {
  createFakeVolumeManagerApi,
  envelopeError,
  routeMissingError,
} from '../../__fixtures__/fakeVolumeManagerApi';
import { VolumeManagerPage } from './VolumeManagerPage';

function renderPage(api: VolumeManagerApi) {
  return renderInTestApp(
    <TestApiProvider apis={[[volumeManagerApiRef, api]]}>
      <VolumeManagerPage />
    </TestApiProvider>,
  );
}

describe('VolumeManagerPage', () => {
  it('shows backend health and says which routes the backend does not have yet', async () => {
    const missing = await routeMissingError();
    const api = createFakeVolumeManagerApi({
      getHealth: jest.fn().mockResolvedValue({ status: 'ok' }),
      getClusters: jest.fn().mockRejectedValue(missing),
      listBackups: jest.fn().mockRejectedValue(missing),
    });
    await renderPage(api);

    expect(
      await screen.findByText('Backend reachable (status: ok)'),
    ).toBeInTheDocument();
    expect(
      await screen.findByText(
        'The cluster list is not available from this backend yet',
      ),
    ).toBeInTheDocument();
    expect(
      screen.getByText('Backup history is not available from this backend yet'),
    ).toBeInTheDocument();
    expect(api.listBackups).toHaveBeenCalledWith({ limit: 20 });
    expect(screen.queryByRole('table')).not.toBeInTheDocument();
  });

  it('lists clusters and recent backups when the backend has them', async () => {
    const api = createFakeVolumeManagerApi({
      getHealth: jest.fn().mockResolvedValue({ status: 'ok' }),
      getClusters: jest.fn().mockResolvedValue({
        clusters: [
          { name: 'kube-sim', source: 'kubernetes-config', authProvider: 'serviceAccount' },
        ],
        authModes: ['in-cluster'],
      }),
      listBackups: jest.fn().mockResolvedValue({
        items: [
          {
            id: 'item-1',
            runId: 'run-1',
            cluster: 'kube-sim',
            namespace: 'payments',
            pvc: 'data-payments-db-0',
            status: 'succeeded',
            bytes: 10,
            sha256: null,
            archiveUri: null,
            error: null,
            helperPod: null,
            node: null,
            startedAt: '2026-11-25T21:00:00Z',
            finishedAt: '2026-11-25T21:01:00Z',
            requestedBy: 'user:default/guest',
            progress: null,
          },
        ],
        nextCursor: null,
      }),
    });
    await renderPage(api);

    expect(await screen.findByText('serviceAccount')).toBeInTheDocument();
    expect(await screen.findByText('data-payments-db-0')).toBeInTheDocument();
    expect(screen.getByText('2026-11-25 21:01 UTC')).toBeInTheDocument();
    expect(screen.getByText('user:default/guest')).toBeInTheDocument();
  });

  it('shows errors of the health check and of a route that failed', async () => {
    const api = createFakeVolumeManagerApi({
      getHealth: jest
        .fn()
        .mockRejectedValue(await envelopeError(503, 'ServiceUnavailableError', 'starting up')),
      getClusters: jest
        .fn()
        .mockRejectedValue(await envelopeError(500, 'Error', 'kubeconfig unreadable')),
      listBackups: jest.fn().mockResolvedValue({ items: [], nextCursor: null }),
    });
    await renderPage(api);

    expect(
      await screen.findByText('The backend did not answer /health'),
    ).toBeInTheDocument();
    expect(
      (await screen.findAllByText(/kubeconfig unreadable/)).length,
    ).toBeGreaterThan(0);
    expect(await screen.findByText('No backup has run yet.')).toBeInTheDocument();
  });
});
