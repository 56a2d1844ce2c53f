import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEventLib from '@testing-library/user-event';
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
import type { Restore } from '@nkvm/backstage-plugin-volume-manager-common';
import { volumeManagerApiRef, type VolumeManagerApi } from '../../api';
import {
  backupItem,
  createFakeVolumeManagerApi,
  envelopeError,
  restoreOf,
  uploadCacheVolume,
} from '../../__fixtures__/fakeVolumeManagerApi';
import { VolumeHistory } from '../VolumeHistory';
import { toRestoreRequest, initialRestoreDraft } from './restoreRequest';

// No delay between keystrokes: these tests type a lot, on a busy 2-core machine.
const userEvent = userEventLib.setup({ delay: null });

type Decision = (name: string) => AuthorizeResult.ALLOW | AuthorizeResult.DENY;
const allowAll: Decision = () => AuthorizeResult.ALLOW;

const ENTITY = 'component:default/payments-api';
const succeeded = backupItem({ id: 'item-1', finishedAt: '2026-11-25T21:04:05.000Z' });
const failed = backupItem({ id: 'item-2', runId: 'run-2', status: 'failed', bytes: null, sha256: null, archiveUri: null, error: 'exec failed' });

async function renderHistory(
  api: VolumeManagerApi,
  decide: Decision = allowAll,
  onRestoreFinished?: (restore: Restore) => void,
) {
  const requests: Array<{ name: string; resourceRef?: string }> = [];
  const permissionApi = mockApis.permission({
    authorize: request => {
      requests.push({
        name: request.permission.name,
        resourceRef: (request as { resourceRef?: string }).resourceRef,
      });
      return decide(request.permission.name);
    },
  });
  const result = await renderInTestApp(
    <TestApiProvider
      apis={[
        [volumeManagerApiRef, api],
        [permissionApiRef, permissionApi],
        [alertApiRef, { post: jest.fn(), alert$: jest.fn() }],
      ]}
    >
      <SWRConfig value={{ provider: () => new Map() }}>
        <VolumeHistory
          volume={uploadCacheVolume}
          entityRef={ENTITY}
          onRestoreFinished={onRestoreFinished}
        />
      </SWRConfig>
    </TestApiProvider>,
    { mountedRoutes: { '/catalog/:namespace/:kind/:name': entityRouteRef } },
  );
  return Object.assign(result, { requests });
}

function apiWith(overrides: Partial<VolumeManagerApi> = {}) {
  return createFakeVolumeManagerApi({
    listBackups: jest.fn().mockResolvedValue({ items: [succeeded, failed], nextCursor: null }),
    ...overrides,
  });
}

/** Opens the dialog from the succeeded backup's Restore action. */
async function openDialog() {
  await userEvent.click(
    await screen.findByRole('button', {
      name: 'Restore the backup of payments-api-uploads from 2026-11-25T21:04:05.000Z',
    }),
  );
  return screen.findByRole('dialog');
}

/** A Restore answer for each poll, in order; the last one repeats. */
function polls(...answers: Restore[]) {
  let i = 0;
  return jest.fn(async (_id: string) => answers[Math.min(i++, answers.length - 1)]);
}

// Material UI dialogs and role queries are slow in jsdom on a busy 2-core machine; the progress
// tests also wait for real 1 s polls.
jest.setTimeout(60_000);
const POLLED = { timeout: 8_000 };

describe('RestoreDialog (from a PVC history)', () => {
  it('offers Restore on succeeded backups only, checked against the PVC entity', async () => {
    const { requests } = await renderHistory(apiWith());
    const history = await screen.findByRole('table', { name: 'Backup history of payments-api-uploads' });
    const buttons = within(history).getAllByRole('button', { name: /^Restore the backup of/ });
    expect(buttons).toHaveLength(1);
    expect(within(history).getByRole('columnheader', { name: 'Restore' })).toBeInTheDocument();
    expect(requests).toEqual(
      expect.arrayContaining([
        { name: 'volume-manager.restore.create', resourceRef: ENTITY },
        { name: 'volume-manager.restore.inPlace', resourceRef: ENTITY },
      ]),
    );
  });

  it('hides the whole action from a user without volume-manager.restore.create', async () => {
    await renderHistory(apiWith(), name =>
      name === 'volume-manager.restore.create' ? AuthorizeResult.DENY : AuthorizeResult.ALLOW,
    );
    const history = await screen.findByRole('table', { name: 'Backup history of payments-api-uploads' });
    // The download stays (other permission); the restore column does not exist.
    expect(within(history).getAllByRole('button', { name: /Download the archive/ })).toHaveLength(1);
    expect(within(history).queryByRole('button', { name: /Restore/ })).not.toBeInTheDocument();
    expect(within(history).queryByRole('columnheader', { name: 'Restore' })).not.toBeInTheDocument();
  });

  it('hides the action from a user who may not download the archive (a restore hands its data over)', async () => {
    await renderHistory(apiWith(), name =>
      name === 'volume-manager.archive.download' ? AuthorizeResult.DENY : AuthorizeResult.ALLOW,
    );
    const history = await screen.findByRole('table', { name: 'Backup history of payments-api-uploads' });
    expect(within(history).queryByRole('button', { name: /Restore/ })).not.toBeInTheDocument();
    expect(within(history).queryByRole('columnheader', { name: 'Restore' })).not.toBeInTheDocument();
  });

  it('hides "this PVC" from a user without volume-manager.restore.inPlace', async () => {
    await renderHistory(apiWith(), name =>
      name === 'volume-manager.restore.inPlace' ? AuthorizeResult.DENY : AuthorizeResult.ALLOW,
    );
    const dialog = await openDialog();
    expect(within(dialog).getByRole('radio', { name: 'A new PVC' })).toBeChecked();
    expect(within(dialog).queryByRole('radio', { name: /This PVC/ })).not.toBeInTheDocument();
    expect(within(dialog).queryByLabelText(/to confirm/)).not.toBeInTheDocument();
  });

  it('new PVC: sends only what was filled in, so the backend applies its defaults', async () => {
    const api = apiWith({
      createRestore: jest.fn().mockResolvedValue(restoreOf()),
      getRestore: jest.fn(() => new Promise<Restore>(() => {})),
    });
    await renderHistory(api);
    const dialog = await openDialog();
    expect(dialog).toHaveTextContent('Restore payments/payments-api-uploads from 2026-11-25 21:04:05 UTC');
    const name = within(dialog).getByRole('textbox', { name: 'New PVC name' });
    expect(name).toHaveAttribute('placeholder', 'payments-api-uploads-restore-…');
    expect(within(dialog).getByRole('textbox', { name: 'Namespace' })).toHaveValue('payments');
    expect(within(dialog).getByRole('textbox', { name: 'Size' })).toHaveAttribute('placeholder', '8Gi');
    expect(within(dialog).getByRole('radio', { name: /Preserve the numeric owners/ })).toBeChecked();

    await userEvent.click(within(dialog).getByRole('button', { name: 'Restore' }));
    expect(api.createRestore).toHaveBeenCalledTimes(1);
    expect(api.createRestore).toHaveBeenCalledWith({
      itemId: 'item-1',
      target: { type: 'newPvc', cluster: 'kube-sim', namespace: 'payments' },
      ownership: 'preserve',
    });
    // The form gives way to the progress.
    expect(await within(dialog).findByTestId('restore-progress')).toHaveAttribute('data-phase', 'queued');
  });

  it('new PVC: sends the typed name, namespace, size and workload ownership', async () => {
    const api = apiWith({
      createRestore: jest.fn().mockResolvedValue(restoreOf()),
      getRestore: jest.fn(() => new Promise<Restore>(() => {})),
    });
    await renderHistory(api);
    const dialog = await openDialog();
    await userEvent.type(within(dialog).getByRole('textbox', { name: 'New PVC name' }), 'uploads-copy');
    const namespace = within(dialog).getByRole('textbox', { name: 'Namespace' });
    await userEvent.clear(namespace);
    await userEvent.type(namespace, 'payments-staging');
    await userEvent.type(within(dialog).getByRole('textbox', { name: 'Size' }), '10Gi');
    await userEvent.click(within(dialog).getByRole('radio', { name: /As the workload's user and group/ }));
    await userEvent.click(within(dialog).getByRole('button', { name: 'Restore' }));

    expect(api.createRestore).toHaveBeenCalledWith({
      itemId: 'item-1',
      target: {
        type: 'newPvc',
        cluster: 'kube-sim',
        namespace: 'payments-staging',
        name: 'uploads-copy',
        size: '10Gi',
      },
      ownership: 'workload',
    });
  });

  it('new PVC: refuses a bad name, namespace or size before sending anything', async () => {
    const api = apiWith({ createRestore: jest.fn() });
    await renderHistory(api);
    const dialog = await openDialog();
    const restore = within(dialog).getByRole('button', { name: 'Restore' });
    const name = within(dialog).getByRole('textbox', { name: 'New PVC name' });
    const namespace = within(dialog).getByRole('textbox', { name: 'Namespace' });
    const size = within(dialog).getByRole('textbox', { name: 'Size' });

    for (const bad of ['Uploads', '../etc', 'a_b', '-x']) {
      await userEvent.clear(name);
      await userEvent.type(name, bad);
      expect(restore).toBeDisabled();
      expect(dialog).toHaveTextContent('Lowercase letters, digits, "-" and "."');
    }
    await userEvent.clear(name);
    expect(restore).toBeEnabled();

    await userEvent.clear(namespace);
    expect(restore).toBeDisabled();
    expect(dialog).toHaveTextContent('Enter the namespace of the new PVC');
    await userEvent.type(namespace, 'kube.system');
    expect(restore).toBeDisabled();
    await userEvent.clear(namespace);
    await userEvent.type(namespace, 'payments');
    expect(restore).toBeEnabled();

    for (const bad of ['10 GB', '-1Gi', '0', 'Gi', '1gi']) {
      await userEvent.clear(size);
      await userEvent.type(size, bad);
      expect(restore).toBeDisabled();
    }
    await userEvent.clear(size);
    await userEvent.type(size, '1.5Gi');
    expect(restore).toBeEnabled();
    expect(api.createRestore).not.toHaveBeenCalled();
  });

  it('this PVC: Restore stays disabled until the PVC name is typed exactly', async () => {
    const api = apiWith({
      createRestore: jest.fn().mockResolvedValue(restoreOf()),
      getRestore: jest.fn(() => new Promise<Restore>(() => {})),
    });
    await renderHistory(api);
    const dialog = await openDialog();
    await userEvent.click(within(dialog).getByRole('radio', { name: 'This PVC (payments-api-uploads)' }));
    // Merge is the default; the safety backup is offered for replace only.
    expect(within(dialog).getByRole('radio', { name: /^Merge/ })).toBeChecked();
    expect(within(dialog).queryByRole('checkbox', { name: /safety backup/ })).not.toBeInTheDocument();
    expect(dialog).toHaveTextContent('scale its workload (Deployment/payments-api) down first');

    const restore = within(dialog).getByRole('button', { name: 'Restore' });
    const confirm = within(dialog).getByRole('textbox', { name: 'Type payments-api-uploads to confirm' });
    expect(restore).toBeDisabled();
    for (const wrong of ['payments-api-upload', 'PAYMENTS-API-UPLOADS', 'payments-api-uploads ']) {
      await userEvent.clear(confirm);
      await userEvent.type(confirm, wrong);
      expect(restore).toBeDisabled();
    }
    fireEvent.click(restore);
    expect(api.createRestore).not.toHaveBeenCalled();

    await userEvent.clear(confirm);
    await userEvent.type(confirm, 'payments-api-uploads');
    expect(restore).toBeEnabled();
    await userEvent.click(restore);
    expect(api.createRestore).toHaveBeenCalledWith({
      itemId: 'item-1',
      target: {
        type: 'existingPvc',
        cluster: 'kube-sim',
        namespace: 'payments',
        name: 'payments-api-uploads',
        mode: 'merge',
        confirm: 'payments-api-uploads',
      },
      ownership: 'preserve',
    });
  });

  it('this PVC, replace: takes a safety backup unless unchecked, and warns when it is', async () => {
    const api = apiWith({
      createRestore: jest.fn().mockResolvedValue(restoreOf()),
      getRestore: jest.fn(() => new Promise<Restore>(() => {})),
    });
    await renderHistory(api);
    const dialog = await openDialog();
    await userEvent.click(within(dialog).getByRole('radio', { name: /This PVC/ }));
    await userEvent.click(within(dialog).getByRole('radio', { name: /^Replace/ }));
    const safety = within(dialog).getByRole('checkbox', { name: /safety backup/ });
    expect(safety).toBeChecked();
    await userEvent.click(safety);
    expect(dialog).toHaveTextContent('Without a safety backup, what the volume holds now is gone');
    await userEvent.click(within(dialog).getByRole('checkbox', { name: /extract straight into it/ }));
    await userEvent.type(within(dialog).getByRole('textbox', { name: /to confirm/ }), 'payments-api-uploads');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Restore' }));
    expect(api.createRestore).toHaveBeenCalledWith({
      itemId: 'item-1',
      target: {
        type: 'existingPvc',
        cluster: 'kube-sim',
        namespace: 'payments',
        name: 'payments-api-uploads',
        mode: 'replace',
        confirm: 'payments-api-uploads',
        safetyBackup: false,
        allowDirectExtraction: true,
      },
      ownership: 'preserve',
    });
  });

  it('replace keeps the default safety backup in the body', () => {
    const draft = {
      ...initialRestoreDraft(uploadCacheVolume),
      target: 'existingPvc' as const,
      mode: 'replace' as const,
      confirm: 'payments-api-uploads',
    };
    expect(toRestoreRequest(succeeded, uploadCacheVolume, draft).target).toEqual({
      type: 'existingPvc',
      cluster: 'kube-sim',
      namespace: 'payments',
      name: 'payments-api-uploads',
      mode: 'replace',
      confirm: 'payments-api-uploads',
      safetyBackup: true,
    });
  });

  it('starts one restore however fast Restore is clicked twice', async () => {
    const api = apiWith({
      createRestore: jest.fn(() => new Promise<Restore>(r => setTimeout(() => r(restoreOf()), 50))),
      getRestore: jest.fn(() => new Promise<Restore>(() => {})),
    });
    await renderHistory(api);
    const dialog = await openDialog();
    const button = within(dialog).getByRole('button', { name: 'Restore' });
    // Both clicks land before React re-renders (one act), as a fast double click can.
    act(() => {
      button.dispatchEvent(new MouseEvent('click', { bubbles: true }));
      button.dispatchEvent(new MouseEvent('click', { bubbles: true }));
    });
    await within(dialog).findByTestId('restore-progress');
    expect(api.createRestore).toHaveBeenCalledTimes(1);
  });

  it('shows a refused restore in the dialog and keeps the form', async () => {
    const error = await envelopeError(
      409,
      'ConflictError',
      'payments/payments-api-uploads is being backed up; try again when that ends',
    );
    const api = apiWith({ createRestore: jest.fn().mockRejectedValue(error) });
    await renderHistory(api);
    const dialog = await openDialog();
    await userEvent.click(within(dialog).getByRole('button', { name: 'Restore' }));
    expect(await within(dialog).findByText(/The restore could not be started/)).toBeInTheDocument();
    expect(dialog).toHaveTextContent('is being backed up; try again when that ends');
    expect(within(dialog).getByRole('textbox', { name: 'Namespace' })).toBeInTheDocument();
    expect(within(dialog).getByRole('button', { name: 'Restore' })).toBeEnabled();
  });

  it('follows the phases to success, with bytes, checks and the restored PVC linked to its entity', async () => {
    const target = { cluster: 'kube-sim', namespace: 'payments', name: 'payments-api-uploads-restore-5e1c0a7b' };
    const checks = [
      { name: 'sha256', ok: true, message: 'matches the recorded sha256 and the sidecar' },
      { name: 'tar-scan', ok: true, message: '3 entries, none escapes the volume root' },
    ];
    const getRestore = polls(
      restoreOf({ phase: 'verifying', bytesDone: 512, bytesTotal: 1024, targetPvc: target }),
      restoreOf({ phase: 'preflight', bytesDone: 1024, bytesTotal: 1024, entries: 3, uncompressedBytes: 4096, checks, targetPvc: target }),
      restoreOf({ phase: 'restoring', bytesDone: 256, bytesTotal: 1024, entries: 3, uncompressedBytes: 4096, checks, targetPvc: target }),
      restoreOf({
        phase: 'succeeded',
        bytesDone: 1024,
        bytesTotal: 1024,
        entries: 3,
        uncompressedBytes: 4096,
        checks: [...checks, { name: 'capacity', ok: true, message: '8Gi holds 4.0 KiB' }],
        targetPvc: target,
        entityRef: ENTITY,
        finishedAt: '2026-11-26T08:00:09.000Z',
      }),
    );
    const onFinished = jest.fn();
    const api = apiWith({ createRestore: jest.fn().mockResolvedValue(restoreOf()), getRestore });
    await renderHistory(api, allowAll, onFinished);
    const dialog = await openDialog();
    await userEvent.click(within(dialog).getByRole('button', { name: 'Restore' }));

    const progress = await within(dialog).findByTestId('restore-progress');
    const phase = (p: string) =>
      waitFor(() => expect(within(dialog).getByTestId('restore-progress')).toHaveAttribute('data-phase', p), POLLED);
    expect(progress).toHaveAttribute('data-phase', 'queued');
    expect(within(dialog).getByRole('status')).toHaveTextContent('Queued: waiting for a free restore worker');
    const steps = () => [...dialog.querySelectorAll('[data-step]')];
    expect(steps().map(s => s.getAttribute('data-step'))).toEqual(['queued', 'verifying', 'preflight', 'restoring', 'done']);

    await phase('verifying');
    expect(within(dialog).getByRole('status')).toHaveTextContent('Verifying the archive: 512 B of 1.0 KiB read');
    expect(within(dialog).getByRole('progressbar', { name: 'Restore progress' })).toHaveAttribute('aria-valuenow', '50');
    expect(within(dialog).getByRole('button', { name: 'Cancel the restore' })).toBeEnabled();

    await phase('preflight');
    expect(within(dialog).getByRole('status')).toHaveTextContent('Preflight: checking the target PVC');
    // No byte count outside the streaming phases: the bar just says "working".
    expect(within(dialog).getByRole('progressbar', { name: 'Restore progress' })).not.toHaveAttribute('aria-valuenow');
    expect(within(dialog).getByTestId('restore-scan')).toHaveTextContent('The archive holds 3 entries, 4.0 KiB uncompressed.');
    const list = within(dialog).getByRole('list', { name: 'Restore checks' });
    expect(within(list).getAllByRole('listitem').map(li => [li.getAttribute('data-check'), li.getAttribute('data-ok')])).toEqual([
      ['sha256', 'true'],
      ['tar-scan', 'true'],
    ]);
    expect(list).toHaveTextContent('matches the recorded sha256 and the sidecar');

    await phase('restoring');
    expect(within(dialog).getByRole('status')).toHaveTextContent('Restoring: 256 B of 1.0 KiB written to the volume');

    await phase('succeeded');
    expect(within(dialog).getByTestId('restored-pvc')).toHaveTextContent(
      'payments/payments-api-uploads-restore-5e1c0a7b on kube-sim',
    );
    expect(within(dialog).getByRole('link', { name: /payments-api/ })).toHaveAttribute(
      'href',
      '/catalog/default/component/payments-api',
    );
    // Every step is completed, none in error; cancel is gone, polling stopped.
    expect(steps().every(s => s.querySelector('.MuiStepIcon-completed'))).toBe(true);
    expect(dialog.querySelector('.Mui-error')).toBeNull();
    expect(within(dialog).queryByRole('button', { name: 'Cancel the restore' })).not.toBeInTheDocument();
    expect(onFinished).toHaveBeenCalledTimes(1);
    expect(onFinished.mock.calls[0][0].phase).toBe('succeeded');
    const calls = getRestore.mock.calls.length;
    await new Promise(r => setTimeout(r, 1500));
    expect(getRestore).toHaveBeenCalledTimes(calls);
    expect(getRestore).toHaveBeenCalledWith('5e1c0a7b-0000-4000-8000-000000000001');
  });

  it('shows a failed restore with its error, the failed check, and the step where it stopped', async () => {
    const checks = [
      { name: 'sha256', ok: false, message: 'archive sha256 3f… differs from the recorded ab…' },
    ];
    const getRestore = polls(
      restoreOf({ phase: 'verifying', bytesDone: 100, bytesTotal: 1024 }),
      restoreOf({ phase: 'failed', checks, error: 'the archive does not match its recorded sha256' }),
    );
    const onFinished = jest.fn();
    const api = apiWith({ createRestore: jest.fn().mockResolvedValue(restoreOf()), getRestore });
    await renderHistory(api, allowAll, onFinished);
    const dialog = await openDialog();
    await userEvent.click(within(dialog).getByRole('button', { name: 'Restore' }));

    const error = await within(dialog).findByTestId('restore-error', {}, POLLED);
    expect(error).toHaveTextContent('The restore failed: the archive does not match its recorded sha256');
    expect(within(dialog).getByTestId('restore-progress')).toHaveAttribute('data-phase', 'failed');
    const check = dialog.querySelector('[data-check="sha256"]')!;
    expect(check).toHaveAttribute('data-ok', 'false');
    expect(check).toHaveTextContent('differs from the recorded');
    // The verifying step carries the error mark; the later ones are not completed.
    const verifying = dialog.querySelector('[data-step="verifying"]')!;
    expect(verifying.querySelector('.Mui-error')).not.toBeNull();
    expect(dialog.querySelector('[data-step="restoring"] .MuiStepIcon-completed')).toBeNull();
    expect(within(dialog).queryByTestId('restore-done')).not.toBeInTheDocument();
    expect(within(dialog).queryByRole('button', { name: 'Cancel the restore' })).not.toBeInTheDocument();
    expect(onFinished).toHaveBeenCalledTimes(1);
  });

  it('cancels a running restore and shows it canceled', async () => {
    let canceled = false;
    const running = restoreOf({ phase: 'restoring', bytesDone: 300, bytesTotal: 1024 });
    const getRestore = jest.fn(async () => (canceled ? restoreOf({ phase: 'canceled' }) : running));
    const cancelRestore = jest.fn(async (_id: string) => {
      canceled = true;
      return restoreOf({ phase: 'canceled', error: 'canceled by user:default/guest' });
    });
    const api = apiWith({ createRestore: jest.fn().mockResolvedValue(restoreOf()), getRestore, cancelRestore });
    await renderHistory(api);
    const dialog = await openDialog();
    await userEvent.click(within(dialog).getByRole('button', { name: 'Restore' }));
    await waitFor(() => expect(within(dialog).getByTestId('restore-progress')).toHaveAttribute('data-phase', 'restoring'), POLLED);
    expect(dialog).toHaveTextContent('Closing this dialog does not stop the restore');

    await userEvent.click(within(dialog).getByRole('button', { name: 'Cancel the restore' }));
    expect(cancelRestore).toHaveBeenCalledWith('5e1c0a7b-0000-4000-8000-000000000001');
    expect(await within(dialog).findByTestId('restore-error')).toHaveTextContent(
      'The restore was canceled: canceled by user:default/guest',
    );
    expect(within(dialog).getByTestId('restore-progress')).toHaveAttribute('data-phase', 'canceled');
    expect(within(dialog).queryByRole('button', { name: 'Cancel the restore' })).not.toBeInTheDocument();
    expect(dialog.querySelector('[data-step="restoring"] .Mui-error')).not.toBeNull();
  });

  it('shows why a cancel was refused, and keeps following the restore', async () => {
    const getRestore = jest.fn(async () => restoreOf({ phase: 'verifying', bytesDone: 1, bytesTotal: 2 }));
    const error = await envelopeError(403, 'NotAllowedError', 'You may not cancel this restore');
    const api = apiWith({
      createRestore: jest.fn().mockResolvedValue(restoreOf()),
      getRestore,
      cancelRestore: jest.fn().mockRejectedValue(error),
    });
    await renderHistory(api);
    const dialog = await openDialog();
    await userEvent.click(within(dialog).getByRole('button', { name: 'Restore' }));
    await userEvent.click(await within(dialog).findByRole('button', { name: 'Cancel the restore' }, POLLED));
    expect(await within(dialog).findByText(/The restore could not be canceled/)).toBeInTheDocument();
    expect(dialog).toHaveTextContent('You may not cancel this restore');
    const before = getRestore.mock.calls.length;
    await waitFor(() => expect(getRestore.mock.calls.length).toBeGreaterThan(before), POLLED);
  });
});
