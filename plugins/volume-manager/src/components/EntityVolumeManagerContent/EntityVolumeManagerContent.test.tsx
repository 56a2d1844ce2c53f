import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { SWRConfig } from 'swr';
import {
  mockApis,
  renderInTestApp,
  TestApiProvider,
} from '@backstage/test-utils';
import { alertApiRef } from '@backstage/core-plugin-api';
import { EntityProvider, entityRouteRef } from '@backstage/plugin-catalog-react';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import type {
  BackupRun,
  VolumesResponse,
} from '@nkvm/backstage-plugin-volume-manager-common';
import { volumeManagerApiRef, type VolumeManagerApi } from '../../api';
import {
  backupItem,
  backupRun,
  createFakeVolumeManagerApi,
  dbVolume,
  envelopeError,
  paymentsApiEntity,
  restoreOf,
  routeMissingError,
  uploadCacheVolume,
} from '../../__fixtures__/fakeVolumeManagerApi';
import { EntityVolumeManagerContent } from './EntityVolumeManagerContent';

type Decision = (name: string) => AuthorizeResult.ALLOW | AuthorizeResult.DENY;
const allowAll: Decision = () => AuthorizeResult.ALLOW;

async function renderTab(api: VolumeManagerApi, decide: Decision = allowAll) {
  const alerts = { post: jest.fn(), alert$: jest.fn() };
  const permissionApi = mockApis.permission({
    authorize: request => decide(request.permission.name),
  });
  const result = await renderInTestApp(
    <TestApiProvider
      apis={[
        [volumeManagerApiRef, api],
        [permissionApiRef, permissionApi],
        [alertApiRef, alerts],
      ]}
    >
      {/* usePermission caches decisions in SWR; a fresh cache per test */}
      <SWRConfig value={{ provider: () => new Map() }}>
        <EntityProvider entity={paymentsApiEntity}>
          <EntityVolumeManagerContent />
        </EntityProvider>
      </SWRConfig>
    </TestApiProvider>,
    { mountedRoutes: { '/catalog/:namespace/:kind/:name': entityRouteRef } },
  );
  return Object.assign(result, { alerts });
}

/** Inventory + no history + the local destination. */
function apiWith(volumes: VolumesResponse, overrides: Partial<VolumeManagerApi> = {}) {
  return createFakeVolumeManagerApi({
    getVolumes: jest.fn().mockResolvedValue(volumes),
    listBackups: jest.fn().mockResolvedValue({ items: [], nextCursor: null }),
    listRestores: jest.fn().mockResolvedValue({ items: [], nextCursor: null }),
    getDestinations: jest.fn().mockResolvedValue({
      destinations: [
        { id: 'local', type: 'local' },
        { id: 'nas', type: 'scp', host: 'nas.example', remoteDir: '/backups' },
      ],
      allowAdHoc: false,
    }),
    ...overrides,
  });
}

const row = (name: string) =>
  screen.getByRole('row', { name: new RegExp(`\\b${name}\\b`) });

// Material UI tables and role queries are slow in jsdom on a busy 2-core machine.
jest.setTimeout(30_000);

describe('EntityVolumeManagerContent', () => {
  it('loading: shows progress while the inventory loads, for this entity only', async () => {
    const api = createFakeVolumeManagerApi({
      getVolumes: jest.fn(() => new Promise<VolumesResponse>(() => {})),
      listBackups: jest.fn().mockResolvedValue({ items: [], nextCursor: null }),
      getDestinations: jest.fn(() => new Promise(() => {})),
    });
    await renderTab(api);

    expect(screen.getByTestId('progress')).toBeInTheDocument();
    expect(api.getVolumes).toHaveBeenCalledWith({
      entityRef: 'component:default/payments-api',
    });
  });

  it('says the inventory is not available when the backend has no /volumes route', async () => {
    const error = await routeMissingError();
    const api = apiWith({ items: [], errors: [] }, {
      getVolumes: jest.fn().mockRejectedValue(error),
    });
    await renderTab(api);

    expect(
      await screen.findByText('Volume inventory is not available from this backend yet'),
    ).toBeInTheDocument();
    expect(screen.queryByRole('table')).not.toBeInTheDocument();
  });

  it('empty: explains how to annotate the entity when it has no PVCs', async () => {
    await renderTab(apiWith({ items: [], errors: [] }));

    expect(
      await screen.findByText('No persistent volume claims found for this entity'),
    ).toBeInTheDocument();
    expect(
      screen.getByText(
        'This entity is matched to pods labelled backstage.io/kubernetes-id=payments-api, in the namespace "payments".',
      ),
    ).toBeInTheDocument();
    expect(
      screen.getByText(/backstage.io\/kubernetes-label-selector: app=payments-api/),
    ).toBeInTheDocument();
    expect(screen.queryByRole('table')).not.toBeInTheDocument();
  });

  it('lists every column of a PVC, with the exact time of the last backup as a tooltip', async () => {
    await renderTab(apiWith({ items: [uploadCacheVolume, dbVolume], errors: [] }));

    expect(await screen.findByText('Persistent volume claims (2)')).toBeInTheDocument();
    const uploads = within(row('payments-api-uploads'));
    for (const text of ['payments', 'kube-sim', 'Deployment/payments-api', '8Gi', 'standard', 'ReadWriteOnce', 'node-a', 'Succeeded']) {
      expect(uploads.getByText(text)).toBeInTheDocument();
    }
    const time = uploads.getByText(/ago$/);
    expect(time).toHaveAttribute('datetime', '2026-11-25T21:04:05.000Z');
    await userEvent.hover(time);
    expect(await screen.findByText('2026-11-25 21:04:05 UTC')).toBeInTheDocument();

    const db = within(row('data-payments-db-0'));
    expect(db.getByText('StatefulSet/payments-db')).toBeInTheDocument();
    expect(db.getByText('Never')).toBeInTheDocument();
    expect(db.getByText('No backup')).toBeInTheDocument();
  });

  it('partial error: shows inventory errors as a warning above the volumes', async () => {
    await renderTab(
      apiWith({
        items: [{ ...uploadCacheVolume, owner: null, mounts: [], lastSuccessfulBackup: null }],
        errors: [
          {
            cluster: 'prod',
            namespace: 'payments',
            errorType: 'RBAC_GAP',
            message: 'cannot list persistentvolumeclaims',
          },
        ],
      }),
    );

    const banner = await screen.findByRole('alert');
    expect(banner).toHaveTextContent('Part of the inventory could not be read (1)');
    expect(banner).toHaveTextContent(
      'prod/payments (RBAC_GAP): cannot list persistentvolumeclaims',
    );
    // The banner comes before the table in the document.
    const table = screen.getByRole('table');
    expect(banner.compareDocumentPosition(table) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
    const uploads = within(row('payments-api-uploads'));
    expect(uploads.getByText('unmounted')).toBeInTheDocument();
    expect(uploads.getByText('Never')).toBeInTheDocument();
  });

  it('ambiguous: names every entity that claims a PVC and says only administrators may act', async () => {
    const claimed = {
      ...dbVolume,
      entityRef: undefined,
      ambiguousOwnership: { entityRefs: ['component:default/cache-warmer', 'component:default/payments-api'] },
    };
    await renderTab(apiWith({ items: [uploadCacheVolume, claimed], errors: [] }));

    const notice = await screen.findByTestId('ambiguous-ownership-notice');
    expect(notice).toHaveTextContent('1 volume is claimed by more than one catalog entity');
    expect(notice).toHaveTextContent('only administrators may back them up');
    expect(notice).toHaveTextContent(
      `${dbVolume.cluster}/${dbVolume.namespace}/data-payments-db-0: claimed by component:cache-warmer, component:payments-api`,
    );
    expect(within(row('data-payments-db-0')).getByTestId('ambiguous-ownership')).toHaveTextContent('no owner');
    expect(within(row('payments-api-uploads')).queryByTestId('ambiguous-ownership')).toBeNull();
  });

  it('error: shows the backend error in a ResponseErrorPanel', async () => {
    const error = await envelopeError(500, 'Error', 'database is locked');
    await renderTab(apiWith({ items: [], errors: [] }, {
      getVolumes: jest.fn().mockRejectedValue(error),
    }));

    expect(await screen.findByText(/Request failed with 500/)).toBeInTheDocument();
    expect(screen.getAllByText(/database is locked/).length).toBeGreaterThan(0);
  });

  it('denied: a user who may read but not back up sees no selection and no backup button', async () => {
    const api = apiWith({ items: [uploadCacheVolume, dbVolume], errors: [] });
    await renderTab(api, name =>
      name === 'volume-manager.backup.create' || name === 'volume-manager.archive.download'
        ? AuthorizeResult.DENY
        : AuthorizeResult.ALLOW,
    );

    expect(await screen.findByTestId('backup-not-permitted')).toHaveTextContent(
      'you may not back them up',
    );
    expect(screen.queryByRole('button', { name: /back up selected/i })).not.toBeInTheDocument();
    expect(screen.queryByRole('checkbox')).not.toBeInTheDocument();
    expect(api.getDestinations).not.toHaveBeenCalled();

    // History is readable, but the archive cannot be downloaded.
    (api.listBackups as jest.Mock).mockResolvedValue({ items: [backupItem()], nextCursor: null });
    await userEvent.click(
      screen.getByRole('button', { name: 'Show the backup history of payments-api-uploads' }),
    );
    const history = await screen.findByRole('table', { name: 'Backup history of payments-api-uploads' });
    expect(within(history).getByText('Not permitted')).toBeInTheDocument();
    expect(within(history).queryByRole('button', { name: /download/i })).not.toBeInTheDocument();
  });

  it('denied: a 403 for the volumes themselves goes to the error panel', async () => {
    const error = await envelopeError(403, 'NotAllowedError', "You may not see the volumes of 'component:default/payments-api'");
    await renderTab(apiWith({ items: [], errors: [] }, { getVolumes: jest.fn().mockRejectedValue(error) }));
    expect(await screen.findByText(/Request failed with 403/)).toBeInTheDocument();
    expect(screen.getAllByText(/You may not see the volumes/).length).toBeGreaterThan(0);
  });

  it('backs up two selected PVCs after a confirmation, shows live progress, then refreshes', async () => {
    const running: BackupRun = backupRun({
      status: 'running',
      destination: 'nas',
      items: [
        backupItem({
          id: 'i-1',
          status: 'running',
          bytes: null,
          sha256: null,
          archiveUri: null,
          finishedAt: null,
          progress: { bytes: 2 * 1024 ** 3, bytesPerSecond: 100 * 1024 ** 2 },
        }),
        backupItem({ id: 'i-2', pvc: 'data-payments-db-0', status: 'queued', bytes: null, sha256: null, archiveUri: null, startedAt: null, finishedAt: null }),
      ],
    });
    const done: BackupRun = backupRun({
      items: [backupItem({ id: 'i-1' }), backupItem({ id: 'i-2', pvc: 'data-payments-db-0' })],
    });
    const api = apiWith({ items: [uploadCacheVolume, dbVolume], errors: [] }, {
      createBackup: jest.fn().mockResolvedValue(running),
      getBackupRun: jest.fn().mockResolvedValueOnce(running).mockResolvedValue(done),
    });
    const { alerts } = await renderTab(api);

    const button = await screen.findByRole('button', { name: /back up selected/i });
    expect(button).toBeDisabled();
    await userEvent.click(screen.getByRole('checkbox', { name: 'Select all 2 volumes' }));
    expect(screen.getByText('2 selected')).toBeInTheDocument();

    // Destination picker
    fireEvent.mouseDown(screen.getByRole('button', { name: /Destination/ }));
    await userEvent.click(await screen.findByRole('option', { name: 'nas (SCP)' }));

    await userEvent.click(button);
    const dialog = await screen.findByRole('dialog');
    expect(dialog).toHaveTextContent('Back up 2 volumes?');
    expect(dialog).toHaveTextContent('payments/payments-api-uploads (kube-sim)');
    expect(dialog).toHaveTextContent('nas, SCP (nas.example:/backups)');
    expect(dialog).toHaveTextContent('16.0 GiB; that is an upper bound');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Back up 2' }));
    // While the dialog closes, Material UI hides the page from assistive technology.
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());

    expect(api.createBackup).toHaveBeenCalledWith({
      cluster: 'kube-sim',
      volumes: [
        { namespace: 'payments', name: 'payments-api-uploads' },
        { namespace: 'payments', name: 'data-payments-db-0' },
      ],
      destination: 'nas',
    });

    // Running with progress: bytes, rate and an upper-bound ETA against the 8Gi capacity.
    const progress = await screen.findByTestId('backup-progress-payments-payments-api-uploads');
    expect(progress).toHaveTextContent('2.0 GiB streamed · 100 MiB/s · at most 1 min 1 s left');
    expect(progress).toHaveTextContent("capacity (8.0 GiB), an upper bound");
    expect(within(progress).getByRole('progressbar')).toHaveAttribute('aria-valuenow', '25');
    expect(screen.getByTestId('backup-progress-payments-data-payments-db-0')).toHaveTextContent('Queued');
    expect(screen.getByText('0 selected')).toBeInTheDocument();

    // Polling reaches the end; the inventory is read again for the new last backup.
    await waitFor(
      () =>
        expect(
          screen.getByTestId('backup-progress-payments-payments-api-uploads'),
        ).toHaveAttribute('data-status', 'succeeded'),
      { timeout: 4000 },
    );
    await waitFor(() => expect(api.getVolumes).toHaveBeenCalledTimes(2));
    expect(alerts.post).toHaveBeenCalledWith(
      expect.objectContaining({ message: 'Backup finished: 2 volumes backed up', severity: 'success' }),
    );
  });

  it('shows the error of a refused backup in the confirmation dialog', async () => {
    const error = await envelopeError(403, 'NotAllowedError', "You may not back up 'payments/payments-api-uploads'");
    const api = apiWith({ items: [uploadCacheVolume], errors: [] }, {
      createBackup: jest.fn().mockRejectedValue(error),
    });
    await renderTab(api);
    await userEvent.click(await screen.findByRole('checkbox', { name: 'Select payments/payments-api-uploads' }));
    await userEvent.click(screen.getByRole('button', { name: /back up selected/i }));
    await userEvent.click(within(await screen.findByRole('dialog')).getByRole('button', { name: 'Back up 1' }));
    const dialog = await screen.findByRole('dialog');
    expect(await within(dialog).findByText(/The backup could not be started/)).toBeInTheDocument();
    expect(within(dialog).getAllByText(/You may not back up/).length).toBeGreaterThan(0);
  });

  it('running: picks up a backup already running for the entity and shows its progress', async () => {
    const run = backupRun({
      status: 'running',
      items: [
        backupItem({
          status: 'running',
          bytes: null,
          sha256: null,
          archiveUri: null,
          finishedAt: null,
          progress: { bytes: 1024 ** 2, bytesPerSecond: 512 * 1024 },
        }),
      ],
    });
    const api = apiWith({ items: [{ ...uploadCacheVolume, capacity: { requested: null, actual: null } }], errors: [] }, {
      listBackups: jest.fn(async query =>
        query?.status === 'running'
          ? { items: run.items, nextCursor: null }
          : { items: [], nextCursor: null },
      ),
      getBackupRun: jest.fn().mockResolvedValue(run),
    });
    await renderTab(api);

    const progress = await screen.findByTestId('backup-progress-payments-payments-api-uploads');
    expect(progress).toHaveTextContent('1.0 MiB streamed · 512 KiB/s');
    // Without a known size there is no ETA, and the bar says so by being indeterminate.
    expect(progress).toHaveTextContent('no estimate of the time left');
    expect(within(progress).getByRole('progressbar')).not.toHaveAttribute('aria-valuenow');
    expect(within(row('payments-api-uploads')).getByText('Running')).toBeInTheDocument();
    expect(api.listBackups).toHaveBeenCalledWith({
      entityRef: 'component:default/payments-api',
      status: 'running',
      limit: 100,
    });
  });

  it('shows history with a size/duration chart, sha256 and an archive download', async () => {
    const items = [
      backupItem({ id: 'b', runId: 'r2', bytes: 4096, sha256: 'cd'.repeat(32), startedAt: '2026-11-25T22:00:00Z', finishedAt: '2026-11-25T22:00:02Z' }),
      backupItem({ id: 'a' }),
      backupItem({ id: 'c', runId: 'r3', status: 'failed', bytes: null, sha256: null, archiveUri: null, error: 'helper pod Pending: Insufficient memory' }),
    ];
    const api = apiWith({ items: [uploadCacheVolume], errors: [] }, {
      listBackups: jest.fn(async query =>
        query?.pvc ? { items, nextCursor: null } : { items: [], nextCursor: null },
      ),
      downloadArchive: jest.fn().mockResolvedValue({
        blob: new Blob(['x']),
        fileName: 'payments-api-uploads-20261125T220002Z.tar.gz',
        sha256: 'cd'.repeat(32),
      }),
    });
    const { alerts } = await renderTab(api);

    await userEvent.click(
      await screen.findByRole('button', { name: 'Show the backup history of payments-api-uploads' }),
    );
    expect(api.listBackups).toHaveBeenCalledWith({
      entityRef: 'component:default/payments-api',
      cluster: 'kube-sim',
      namespace: 'payments',
      pvc: 'payments-api-uploads',
      limit: 20,
    });
    expect(await screen.findByRole('img', { name: /Archive size: 2 successful backups; latest 4.0 KiB/ })).toBeInTheDocument();
    expect(screen.getByRole('img', { name: /Duration: 2 successful backups; latest 2.0 s, largest 5.0 s/ })).toBeInTheDocument();

    const history = screen.getByRole('table', { name: 'Backup history of payments-api-uploads' });
    expect(within(history).getByText(`${'cd'.repeat(8)}…`)).toHaveAttribute('data-sha256', 'cd'.repeat(32));
    expect(within(history).getByText('helper pod Pending: Insufficient memory')).toBeInTheDocument();
    const downloads = within(history).getAllByRole('button', { name: /Download the archive/ });
    expect(downloads).toHaveLength(2);
    await userEvent.click(downloads[0]);
    expect(api.downloadArchive).toHaveBeenCalledWith('r2', 'b');
    await waitFor(() =>
      expect(alerts.post).toHaveBeenCalledWith(
        expect.objectContaining({ message: expect.stringContaining('Saved payments-api-uploads-20261125T220002Z.tar.gz') }),
      ),
    );
  });

  it('hides the one-off destination from a user without volume-manager.destination.adhoc', async () => {
    const api = apiWith({ items: [uploadCacheVolume], errors: [] }, {
      getDestinations: jest.fn().mockResolvedValue({
        destinations: [{ id: 'local', type: 'local' }],
        allowAdHoc: true,
      }),
    });
    const decided: string[] = [];
    await renderTab(api, name => {
      decided.push(name);
      return name === 'volume-manager.destination.adhoc' ? AuthorizeResult.DENY : AuthorizeResult.ALLOW;
    });
    await screen.findByRole('checkbox', { name: 'Select payments/payments-api-uploads' });
    fireEvent.mouseDown(screen.getByRole('button', { name: /Destination/ }));
    expect(await screen.findByRole('option', { name: 'Local (backend disk)' })).toBeInTheDocument();
    expect(screen.queryByRole('option', { name: 'One-off destination…' })).not.toBeInTheDocument();
    expect(decided).toContain('volume-manager.destination.adhoc');
  });

  it('sends a one-off destination typed into the dialog, and only the fields given', async () => {
    const api = apiWith({ items: [uploadCacheVolume], errors: [] }, {
      getDestinations: jest.fn().mockResolvedValue({
        destinations: [{ id: 'local', type: 'local' }],
        allowAdHoc: true,
      }),
      createBackup: jest.fn().mockResolvedValue(backupRun({ status: 'queued', items: [] })),
    });
    await renderTab(api);
    await userEvent.click(await screen.findByRole('checkbox', { name: 'Select payments/payments-api-uploads' }));
    fireEvent.mouseDown(screen.getByRole('button', { name: /Destination/ }));
    await userEvent.click(await screen.findByRole('option', { name: 'One-off destination…' }));
    await userEvent.click(screen.getByRole('button', { name: /back up selected/i }));

    const dialog = await screen.findByRole('dialog');
    const confirm = within(dialog).getByRole('button', { name: 'Back up 1' });
    expect(confirm).toBeDisabled();
    expect(dialog).toHaveTextContent('Enter the host.');
    await userEvent.type(within(dialog).getByRole('textbox', { name: /Host$/ }), 'nas.example');
    await userEvent.type(within(dialog).getByRole('textbox', { name: /User/ }), 'backup');
    await userEvent.type(within(dialog).getByLabelText(/Password/), 's3cret');
    await userEvent.type(within(dialog).getByRole('textbox', { name: /Remote directory/ }), '/srv/backups');
    expect(confirm).toBeEnabled();
    await userEvent.click(confirm);

    expect(api.createBackup).toHaveBeenCalledWith({
      cluster: 'kube-sim',
      volumes: [{ namespace: 'payments', name: 'payments-api-uploads' }],
      destination: {
        type: 'scp',
        host: 'nas.example',
        username: 'backup',
        password: 's3cret',
        remoteDir: '/srv/backups',
      },
    });
  });

  it('lists the restores into the PVCs of this entity on the tab, and nothing while there are none', async () => {
    const none = apiWith({ items: [uploadCacheVolume], errors: [] });
    const first = await renderTab(none);
    await screen.findByText('Persistent volume claims (1)');
    await waitFor(() =>
      expect(none.listRestores).toHaveBeenCalledWith({ entityRef: 'component:default/payments-api', limit: 100 }),
    );
    expect(screen.queryByRole('table', { name: 'Restores' })).not.toBeInTheDocument();
    first.unmount();

    const restore = restoreOf({
      phase: 'succeeded',
      entityRef: 'component:default/payments-api',
      targetPvc: { cluster: 'kube-sim', namespace: 'payments', name: 'uploads-copy' },
    });
    const api = apiWith({ items: [uploadCacheVolume], errors: [] }, {
      listRestores: jest.fn().mockResolvedValue({ items: [restore], nextCursor: null }),
    });
    await renderTab(api);
    const table = await screen.findByRole('table', { name: 'Restores' });
    expect(table).toHaveTextContent('payments/uploads-copy (new PVC)');
    expect(screen.getByText("The latest 100 restores into this entity's volumes")).toBeInTheDocument();
  });

  it('does not offer Restore in the history of a user who may back up but not restore', async () => {
    const api = apiWith({ items: [uploadCacheVolume], errors: [] }, {
      listBackups: jest.fn(async query =>
        query?.pvc ? { items: [backupItem()], nextCursor: null } : { items: [], nextCursor: null },
      ),
    });
    await renderTab(api, name =>
      name.startsWith('volume-manager.restore.') ? AuthorizeResult.DENY : AuthorizeResult.ALLOW,
    );
    await userEvent.click(
      await screen.findByRole('button', { name: 'Show the backup history of payments-api-uploads' }),
    );
    const history = await screen.findByRole('table', { name: 'Backup history of payments-api-uploads' });
    expect(within(history).getByRole('button', { name: /Download the archive/ })).toBeInTheDocument();
    expect(within(history).queryByRole('button', { name: /^Restore the backup/ })).not.toBeInTheDocument();
  });
});
