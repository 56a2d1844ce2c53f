import { screen, within } from '@testing-library/react';
import { renderInTestApp, TestApiProvider } from '@backstage/test-utils';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import type { VolumesResponse } from '@nkvm/backstage-plugin-volume-manager-common';
import { volumeManagerApiRef, type VolumeManagerApi } from '../../api';
import {
  createFakeVolumeManagerApi,
  envelopeError,
  paymentsApiEntity,
  routeMissingError,
  uploadCacheVolume,
} from '../../__fixtures__/fakeVolumeManagerApi';
import { EntityVolumeManagerContent } from './EntityVolumeManagerContent';

function renderTab(api: VolumeManagerApi) {
  return renderInTestApp(
    <TestApiProvider apis={[[volumeManagerApiRef, api]]}>
      <EntityProvider entity={paymentsApiEntity}>
        <EntityVolumeManagerContent />
      </EntityProvider>
    </TestApiProvider>,
  );
}

describe('EntityVolumeManagerContent', () => {
  it('shows progress while the inventory loads, for this entity only', async () => {
    const api = createFakeVolumeManagerApi({
      getVolumes: jest.fn(() => new Promise<VolumesResponse>(() => {})),
    });
    await renderTab(api);

    expect(screen.getByTestId('progress')).toBeInTheDocument();
    expect(api.getVolumes).toHaveBeenCalledWith({
      entityRef: 'component:default/payments-api',
    });
  });

  it('says the inventory is not available when the backend has no /volumes route', async () => {
    const error = await routeMissingError();
    const api = createFakeVolumeManagerApi({
      getVolumes: jest.fn().mockRejectedValue(error),
    });
    await renderTab(api);

    expect(
      await screen.findByText(
        'Volume inventory is not available from this backend yet',
      ),
    ).toBeInTheDocument();
    // How this entity's annotations map to workloads.
    expect(
      screen.getByText(
        'This entity is matched to pods labelled backstage.io/kubernetes-id=payments-api, in the namespace "payments".',
      ),
    ).toBeInTheDocument();
    expect(screen.queryByRole('table')).not.toBeInTheDocument();
    expect(screen.queryByText(/Request failed/)).not.toBeInTheDocument();
  });

  it('explains how to annotate the entity when it has no PVCs', async () => {
    const api = createFakeVolumeManagerApi({
      getVolumes: jest.fn().mockResolvedValue({ items: [], errors: [] }),
    });
    await renderTab(api);

    expect(
      await screen.findByText('No persistent volume claims found for this entity'),
    ).toBeInTheDocument();
    expect(
      screen.getByText(
        'This entity is matched to pods labelled backstage.io/kubernetes-id=payments-api, in the namespace "payments".',
      ),
    ).toBeInTheDocument();
    // The copyable example uses the entity's own name.
    expect(
      screen.getByText(/backstage.io\/kubernetes-label-selector: app=payments-api/),
    ).toBeInTheDocument();
    expect(screen.queryByRole('table')).not.toBeInTheDocument();
  });

  it('lists the PVCs in a table', async () => {
    const api = createFakeVolumeManagerApi({
      getVolumes: jest
        .fn()
        .mockResolvedValue({ items: [uploadCacheVolume], errors: [] }),
    });
    await renderTab(api);

    const table = await screen.findByRole('table');
    const rows = within(table).getAllByRole('row');
    // header row + one volume
    expect(rows).toHaveLength(2);
    const row = within(rows[1]);
    expect(row.getByText('payments-api-uploads')).toBeInTheDocument();
    expect(row.getByText('payments')).toBeInTheDocument();
    expect(row.getByText('kube-sim')).toBeInTheDocument();
    expect(row.getByText('Deployment/payments-api')).toBeInTheDocument();
    expect(row.getByText('8Gi')).toBeInTheDocument();
    expect(row.getByText('standard')).toBeInTheDocument();
    expect(row.getByText('ReadWriteOnce')).toBeInTheDocument();
    expect(row.getByText('2026-11-25 21:04 UTC')).toBeInTheDocument();
    expect(
      screen.getByText('Persistent volume claims (1)'),
    ).toBeInTheDocument();
  });

  it('shows partial inventory errors above the volumes', async () => {
    const api = createFakeVolumeManagerApi({
      getVolumes: jest.fn().mockResolvedValue({
        items: [{ ...uploadCacheVolume, owner: null, lastSuccessfulBackup: null }],
        errors: [
          {
            cluster: 'prod',
            namespace: 'payments',
            errorType: 'RBAC_GAP',
            message: 'cannot list persistentvolumeclaims',
          },
        ],
      }),
    });
    await renderTab(api);

    const banner = await screen.findByRole('alert');
    expect(banner).toHaveTextContent('Part of the inventory could not be read (1)');
    expect(banner).toHaveTextContent(
      'prod/payments (RBAC_GAP): cannot list persistentvolumeclaims',
    );
    const row = within(within(screen.getByRole('table')).getAllByRole('row')[1]);
    expect(row.getByText('unmounted')).toBeInTheDocument();
    expect(row.getByText('Never')).toBeInTheDocument();
  });

  it('shows an error panel when the backend fails', async () => {
    const error = await envelopeError(
      500,
      'Error',
      'database is locked',
    );
    const api = createFakeVolumeManagerApi({
      getVolumes: jest.fn().mockRejectedValue(error),
    });
    await renderTab(api);

    expect(
      await screen.findByText(/Request failed with 500/),
    ).toBeInTheDocument();
    expect(screen.getAllByText(/database is locked/).length).toBeGreaterThan(0);
    expect(
      screen.queryByText('Volume inventory is not available from this backend yet'),
    ).not.toBeInTheDocument();
  });

  it('treats a NotFoundError from an existing route as an error, not as a missing route', async () => {
    const error = await envelopeError(404, 'NotFoundError', "No entity 'component:default/payments-api'");
    const api = createFakeVolumeManagerApi({
      getVolumes: jest.fn().mockRejectedValue(error),
    });
    await renderTab(api);

    expect(await screen.findByText(/Request failed with 404/)).toBeInTheDocument();
    expect(
      screen.getAllByText(/No entity 'component:default\/payments-api'/).length,
    ).toBeGreaterThan(0);
    expect(
      screen.queryByText('Volume inventory is not available from this backend yet'),
    ).not.toBeInTheDocument();
  });
});
