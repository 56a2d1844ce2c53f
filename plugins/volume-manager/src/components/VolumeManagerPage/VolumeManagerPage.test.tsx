import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { SWRConfig } from 'swr';
import {
  mockApis,
  renderInTestApp,
  TestApiProvider,
} from '@backstage/test-utils';
import { alertApiRef } from '@backstage/core-plugin-api';
import { entityRouteRef } from '@backstage/plugin-catalog-react';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { volumeManagerApiRef, type VolumeManagerApi } from '../../api';
import type { BackupRun, Restore } from '@nkvm/backstage-plugin-volume-manager-common';
import {
  backupItem,
  createFakeVolumeManagerApi,
  dbVolume,
  envelopeError,
  restoreOf,
  routeMissingError,
  uploadCacheVolume,
} from '../../__fixtures__/fakeVolumeManagerApi';
import { VolumeManagerPage } from './VolumeManagerPage';
import { filterVolumes } from './InventoryCard';

function renderPage(api: VolumeManagerApi, admin = true, alerts = { post: jest.fn(), alert$: jest.fn() }) {
  return renderInTestApp(
    <TestApiProvider
      apis={[
        [volumeManagerApiRef, api],
        [alertApiRef, alerts],
        [
          permissionApiRef,
          mockApis.permission({
            authorize: () => (admin ? AuthorizeResult.ALLOW : AuthorizeResult.DENY),
          }),
        ],
      ]}
    >
      {/* usePermission caches decisions in SWR; a fresh cache per test */}
      <SWRConfig value={{ provider: () => new Map() }}>
        <VolumeManagerPage />
      </SWRConfig>
    </TestApiProvider>,
    { mountedRoutes: { '/catalog/:namespace/:kind/:name': entityRouteRef } },
  );
}

const clusters = {
  clusters: [
    { name: 'kube-sim', source: 'kubeconfig' as const, authProvider: 'kubeconfig' },
    { name: 'prod', source: 'kubernetes-config' as const, authProvider: 'serviceAccount' },
  ],
  authModes: ['kubeconfig' as const],
};

const otherVolume = {
  ...dbVolume,
  cluster: 'prod',
  namespace: 'search',
  name: 'index-0',
  owner: null,
  mounts: [],
  entityRef: 'component:default/search-indexer',
  lastSuccessfulBackup: {
    ...uploadCacheVolume.lastSuccessfulBackup!,
    finishedAt: new Date(Date.now() - 2 * 3600_000).toISOString(),
  },
};

function fullApi(overrides: Partial<VolumeManagerApi> = {}) {
  return createFakeVolumeManagerApi({
    getHealth: jest.fn().mockResolvedValue({ status: 'ok' }),
    getClusters: jest.fn().mockResolvedValue(clusters),
    getVolumes: jest.fn().mockResolvedValue({
      items: [uploadCacheVolume, dbVolume, otherVolume],
      errors: [
        { cluster: 'prod', namespace: 'platform', errorType: 'RBAC_GAP', message: 'cannot list pods in platform' },
      ],
    }),
    listBackups: jest.fn().mockResolvedValue({ items: [], nextCursor: null }),
    listRestores: jest.fn().mockResolvedValue({ items: [], nextCursor: null }),
    ...overrides,
  });
}

// Material UI tables and role queries are slow in jsdom on a busy 2-core machine.
jest.setTimeout(30_000);

describe('VolumeManagerPage', () => {
  it('shows clusters with their health from the inventory', async () => {
    await renderPage(fullApi());

    expect(await screen.findByText('Backend reachable (status: ok)')).toBeInTheDocument();
    const table = await screen.findByRole('table', { name: 'Clusters' });
    const simRow = within(table).getByRole('row', { name: /kube-sim/ });
    expect(await within(simRow).findByText('Reachable; 2 PVCs')).toBeInTheDocument();
    const prodRow = within(table).getByRole('row', { name: /prod/ });
    expect(within(prodRow).getByText(/1 PVCs read; 1 part unreadable \(platform: RBAC_GAP\)/)).toBeInTheDocument();
    // partial errors as a banner above the inventory
    expect(screen.getByText(/Part of the inventory could not be read \(1\)/)).toBeInTheDocument();
  });

  it('filters the inventory by cluster, namespace, owner kind and "no backup in N days"', async () => {
    await renderPage(fullApi());
    expect(await screen.findByText('Inventory (3)')).toBeInTheDocument();

    fireEvent.mouseDown(screen.getByRole('button', { name: /Owner kind/ }));
    await userEvent.click(await screen.findByRole('option', { name: 'StatefulSet' }));
    expect(await screen.findByText('Inventory (1)')).toBeInTheDocument();
    expect(screen.getByText('data-payments-db-0')).toBeInTheDocument();

    fireEvent.mouseDown(screen.getByRole('button', { name: /Owner kind/ }));
    await userEvent.click(await screen.findByRole('option', { name: 'All' }));
    fireEvent.mouseDown(screen.getByRole('button', { name: 'Cluster All' }));
    await userEvent.click(await screen.findByRole('option', { name: 'prod' }));
    expect(await screen.findByText('Inventory (1)')).toBeInTheDocument();
    expect(screen.getByText('component:search-indexer')).toBeInTheDocument();
  });

  it('marks a PVC several entities claim as ambiguous, with a notice naming them', async () => {
    const claimed = {
      ...otherVolume,
      entityRef: undefined,
      ambiguousOwnership: { entityRefs: ['component:default/search-indexer', 'component:team-x/copycat'] },
    };
    await renderPage(fullApi({ getVolumes: jest.fn().mockResolvedValue({ items: [uploadCacheVolume, claimed], errors: [] }) }));
    const notice = await screen.findByTestId('ambiguous-ownership-notice');
    expect(notice).toHaveTextContent('claimed by component:search-indexer, component:team-x/copycat');
    const inventory = screen.getByRole('row', { name: new RegExp(claimed.name) });
    expect(within(inventory).getByText('ambiguous')).toBeInTheDocument();
    expect(within(inventory).getByTestId('ambiguous-ownership')).toBeInTheDocument();
  });

  it('filterVolumes keeps PVCs never backed up or not backed up in N days', () => {
    const now = Date.parse('2026-11-26T00:00:00Z');
    const recent = {
      ...otherVolume,
      lastSuccessfulBackup: { ...otherVolume.lastSuccessfulBackup, finishedAt: '2026-11-25T20:00:00Z' },
    };
    // uploadCacheVolume: 2026-11-25T21:04:05Z; dbVolume: never.
    const volumes = [uploadCacheVolume, dbVolume, recent];
    const none = { cluster: '', namespace: '', ownerKind: '', staleDays: '' };
    expect(filterVolumes(volumes, none, now)).toEqual(volumes);
    expect(filterVolumes(volumes, { ...none, staleDays: '0.125' }, now).map(v => v.name)).toEqual([
      'data-payments-db-0',
      'index-0',
    ]);
    expect(filterVolumes(volumes, { ...none, staleDays: '1' }, now).map(v => v.name)).toEqual([
      'data-payments-db-0',
    ]);
    expect(filterVolumes(volumes, { ...none, namespace: 'payments', ownerKind: 'unmounted' }, now)).toEqual([]);
    expect(filterVolumes(volumes, { ...none, cluster: 'prod', ownerKind: 'unmounted' }, now)).toEqual([recent]);
  });

  it('lists runs across the portal and cancels an unfinished one', async () => {
    const running = backupItem({ id: 'i-9', runId: '9f1c2d3e-0000-4000-8000-000000000000', status: 'running', bytes: null, finishedAt: null, progress: { bytes: 2048, bytesPerSecond: 1024 } });
    // The run stays running until it is cancelled, however often the card polls meanwhile (on a
    // loaded machine a poll can land between finding the button and clicking it).
    let cancelled = false;
    const listBackups = jest.fn(async () => ({
      items: [cancelled ? { ...running, status: 'cancelled' as const, progress: null } : running, backupItem()],
      nextCursor: null,
    }));
    const cancelBackupRun = jest.fn(async (_runId: string) => {
      cancelled = true;
      return {} as BackupRun;
    });
    const api = fullApi({ listBackups, cancelBackupRun });
    await renderPage(api);

    const runs = await screen.findByRole('table', { name: 'Backup runs' });
    expect(api.listBackups).toHaveBeenCalledWith({ limit: 200 });
    expect(within(runs).getAllByRole('row')).toHaveLength(3);
    await userEvent.click(within(runs).getByRole('button', { name: `Cancel run ${running.runId}` }));
    expect(api.cancelBackupRun).toHaveBeenCalledWith(running.runId);
    await waitFor(() =>
      expect(within(screen.getByRole('table', { name: 'Backup runs' })).queryByRole('button', { name: /Cancel run/ })).not.toBeInTheDocument(),
    );
    expect(within(screen.getByRole('table', { name: 'Backup runs' })).getByText('Cancelled')).toBeInTheDocument();
  });

  it('offers the paste-kubeconfig flow only when permitted, and submits it', async () => {
    const api = fullApi({
      createClusterSession: jest.fn().mockResolvedValue({
        name: 'debug', source: 'session', expiresAt: '2026-11-26T06:00:00Z',
      }),
    });
    await renderPage(api, true);
    const form = await screen.findByRole('form', { name: 'Paste a kubeconfig' });
    await userEvent.type(within(form).getByRole('textbox', { name: /Cluster name/ }), 'debug');
    fireEvent.change(within(form).getByRole('textbox', { name: /kubeconfig/ }), {
      target: { value: 'apiVersion: v1\nkind: Config' },
    });
    await userEvent.click(within(form).getByRole('button', { name: 'Start session' }));
    expect(api.createClusterSession).toHaveBeenCalledWith({
      name: 'debug',
      kubeconfig: 'apiVersion: v1\nkind: Config',
      context: undefined,
    });
    expect(await screen.findByText(/Cluster debug is available until 2026-11-26 06:00:00 UTC/)).toBeInTheDocument();
    await waitFor(() => expect(api.getClusters).toHaveBeenCalledTimes(2));
  });

  it('hides the paste-kubeconfig flow from users without the permission', async () => {
    await renderPage(fullApi(), false);
    expect(await screen.findByText('Backend reachable (status: ok)')).toBeInTheDocument();
    await screen.findByText('Inventory (3)');
    expect(screen.queryByRole('form', { name: 'Paste a kubeconfig' })).not.toBeInTheDocument();
  });

  it('shows honest states for missing routes and errors', async () => {
    const missing = await routeMissingError();
    const api = fullApi({
      getHealth: jest.fn().mockRejectedValue(await envelopeError(503, 'ServiceUnavailableError', 'starting up')),
      getClusters: jest.fn().mockRejectedValue(await envelopeError(500, 'Error', 'kubeconfig unreadable')),
      getVolumes: jest.fn().mockRejectedValue(missing),
      listBackups: jest.fn().mockRejectedValue(missing),
      listRestores: jest.fn().mockRejectedValue(missing),
    });
    await renderPage(api, false);

    expect(await screen.findByText('The backend did not answer /health')).toBeInTheDocument();
    expect((await screen.findAllByText(/kubeconfig unreadable/)).length).toBeGreaterThan(0);
    expect(await screen.findByText('Volume inventory is not available from this backend yet')).toBeInTheDocument();
    expect(screen.getByText('Backup history is not available from this backend yet')).toBeInTheDocument();
    expect(screen.getByText('Restores are not available from this backend yet')).toBeInTheDocument();
  });

  it('lists restores beside the runs, with phase, source, target, requester, and cancels a running one', async () => {
    const running = restoreOf({
      id: '7a7a7a7a-0000-4000-8000-000000000002',
      phase: 'restoring',
      bytesDone: 2048,
      bytesTotal: 4096,
      target: {
        type: 'existingPvc',
        cluster: 'kube-sim',
        namespace: 'payments',
        name: 'data-payments-db-0',
        mode: 'replace',
        confirm: 'data-payments-db-0',
      },
      targetPvc: { cluster: 'kube-sim', namespace: 'payments', name: 'data-payments-db-0' },
      requestedBy: 'user:default/carol',
      entityRef: 'component:default/payments-api',
    });
    const done = restoreOf({
      phase: 'succeeded',
      targetPvc: { cluster: 'kube-sim', namespace: 'payments', name: 'payments-api-uploads-restore-5e1c0a7b' },
      entries: 12,
      uncompressedBytes: 8192,
    });
    const failedOne = restoreOf({
      id: '9b9b9b9b-0000-4000-8000-000000000003',
      phase: 'failed',
      error: 'archive entry ../x escapes the volume root',
    });
    let canceled = false;
    const listRestores = jest.fn(async () => ({
      items: [canceled ? { ...running, phase: 'canceled' as const } : running, done, failedOne],
      nextCursor: null,
    }));
    const cancelRestore = jest.fn(async (_id: string): Promise<Restore> => {
      canceled = true;
      return { ...running, phase: 'canceled' };
    });
    const alerts = { post: jest.fn(), alert$: jest.fn() };
    await renderPage(fullApi({ listRestores, cancelRestore }), true, alerts);

    const table = await screen.findByRole('table', { name: 'Restores' });
    expect(listRestores).toHaveBeenCalledWith({ limit: 100 });
    const rows = within(table).getAllByRole('row');
    expect(rows).toHaveLength(4);
    expect(rows[1]).toHaveTextContent('Restoring');
    expect(rows[1]).toHaveTextContent('payments/payments-api-uploads');
    expect(rows[1]).toHaveTextContent('payments/data-payments-db-0 (replace)');
    expect(rows[1]).toHaveTextContent('2.0 KiB of 4.0 KiB');
    expect(rows[1]).toHaveTextContent('user:default/carol');
    expect(within(rows[1]).getByRole('link', { name: /payments-api/ })).toHaveAttribute('href', '/catalog/default/component/payments-api');
    expect(rows[2]).toHaveTextContent('Succeeded');
    expect(rows[2]).toHaveTextContent('payments/payments-api-uploads-restore-5e1c0a7b (new PVC)');
    expect(rows[2]).toHaveTextContent('8.0 KiB in 12 entries');
    expect(rows[3]).toHaveTextContent('Failed');
    expect(rows[3]).toHaveTextContent('archive entry ../x escapes the volume root');
    // Only the unfinished one can be canceled.
    expect(within(table).getAllByRole('button', { name: /Cancel restore/ })).toHaveLength(1);

    await userEvent.click(within(table).getByRole('button', { name: `Cancel restore ${running.id}` }));
    expect(cancelRestore).toHaveBeenCalledWith(running.id);
    await waitFor(() =>
      expect(within(screen.getByRole('table', { name: 'Restores' })).queryByRole('button', { name: /Cancel restore/ })).not.toBeInTheDocument(),
    );
    expect(within(screen.getByRole('table', { name: 'Restores' })).getByText('Canceled')).toBeInTheDocument();
    expect(alerts.post).toHaveBeenCalledWith(expect.objectContaining({ message: `Canceled restore ${running.id}` }));
    // The runs card is still there beside it.
    expect(screen.getByRole('table', { name: 'Clusters' })).toBeInTheDocument();
  });

  it('says so when a restore cannot be canceled', async () => {
    const running = restoreOf({ phase: 'verifying' });
    const error = await envelopeError(403, 'NotAllowedError', 'only the requester or an admin may cancel');
    const alerts = { post: jest.fn(), alert$: jest.fn() };
    await renderPage(
      fullApi({
        listRestores: jest.fn().mockResolvedValue({ items: [running], nextCursor: null }),
        cancelRestore: jest.fn().mockRejectedValue(error),
      }),
      true,
      alerts,
    );
    const table = await screen.findByRole('table', { name: 'Restores' });
    await userEvent.click(within(table).getByRole('button', { name: `Cancel restore ${running.id}` }));
    await waitFor(() =>
      expect(alerts.post).toHaveBeenCalledWith(
        expect.objectContaining({ severity: 'error', message: expect.stringContaining('only the requester or an admin may cancel') }),
      ),
    );
  });
});
