import { useCallback, useEffect, useMemo, useState } from 'react';
import { stringifyEntityRef, type Entity } from '@backstage/catalog-model';
import {
  EmptyState,
  Progress,
  ResponseErrorPanel,
} from '@backstage/core-components';
import { alertApiRef, useApi } from '@backstage/core-plugin-api';
import { useEntity } from '@backstage/plugin-catalog-react';
import { usePermission } from '@backstage/plugin-permission-react';
import {
  adHocDestinationPermission,
  backupCreatePermission,
  backupReadPermission,
  LOCAL_DESTINATION_ID,
  type BackupRun,
  type DestinationSummary,
  type Volume,
  type VolumesResponse,
} from '@nkvm/backstage-plugin-volume-manager-common';
import Button from '@material-ui/core/Button';
import Grid from '@material-ui/core/Grid';
import MenuItem from '@material-ui/core/MenuItem';
import TextField from '@material-ui/core/TextField';
import Alert from '@material-ui/lab/Alert';
import BackupIcon from '@material-ui/icons/Backup';
import useAsync from 'react-use/esm/useAsync';
import {
  isEndpointUnavailable,
  volumeManagerApiRef,
  type VolumeManagerApi,
} from '../../api';
import { AmbiguousOwnershipNotice } from '../AmbiguousOwnershipNotice';
import { EndpointUnavailable } from '../EndpointUnavailable';
import { useBackupRuns } from '../hooks/useBackupRuns';
import { KubernetesAnnotationsHelp } from '../KubernetesAnnotationsHelp';
import { RestoresCard } from '../RestoresCard';
import { VolumeHistory } from '../VolumeHistory';
import { VolumesTable } from '../VolumesTable';
import { volumeKey } from '../VolumesTable/format';
import {
  AD_HOC_DESTINATION,
  emptyAdHocDraft,
  toAdHocDestination,
  type AdHocDraft,
} from './AdHocDestinationForm';
import { BackupDialog } from './BackupDialog';
import { InventoryErrorsPanel } from './InventoryErrorsPanel';

interface InventoryState {
  loading: boolean;
  value?: VolumesResponse;
  error?: Error;
}

/** The entity's inventory; `reload()` refreshes it without going back to the spinner. */
function useInventory(api: VolumeManagerApi, entityRef: string) {
  const [state, setState] = useState<InventoryState>({ loading: true });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let cancelled = false;
    api.getVolumes({ entityRef }).then(
      value => !cancelled && setState({ loading: false, value }),
      error => !cancelled && setState(prev => ({ loading: false, value: prev.value, error })),
    );
    return () => {
      cancelled = true;
    };
  }, [api, entityRef, generation]);
  const reload = useCallback(() => setGeneration(g => g + 1), []);
  return { ...state, reload };
}

const DestinationPicker = ({
  destinations,
  allowAdHoc,
  value,
  onChange,
}: {
  destinations: DestinationSummary[];
  allowAdHoc: boolean;
  value: string;
  onChange(id: string): void;
}) => (
  <TextField
    select
    id="nkvm-backup-destination"
    label="Destination"
    value={value}
    onChange={e => onChange(e.target.value)}
    size="small"
    variant="outlined"
    style={{ minWidth: 180 }}
  >
    {destinations.map(d => (
      <MenuItem key={d.id} value={d.id}>
        {d.type === 'local' ? 'Local (backend disk)' : `${d.id} (${d.type.toUpperCase()})`}
      </MenuItem>
    ))}
    {allowAdHoc && <MenuItem value={AD_HOC_DESTINATION}>One-off destination…</MenuItem>}
  </TextField>
);

/**
 * The Volumes tab of a catalog entity: the PersistentVolumeClaims of the entity's Kubernetes
 * workloads, their last successful backup, a backup of one or many of them with live progress,
 * and each PVC's history with archive downloads.
 *
 * @public
 */
export const EntityVolumeManagerContent = () => {
  const { entity } = useEntity();
  const entityRef = stringifyEntityRef(entity);
  const api = useApi(volumeManagerApiRef);
  const alertApi = useApi(alertApiRef);
  const inventory = useInventory(api, entityRef);

  const canBackUp = usePermission({ permission: backupCreatePermission, resourceRef: entityRef });
  const canReadHistory = usePermission({ permission: backupReadPermission, resourceRef: entityRef });
  // The backend answers 403 to a one-off destination without this; the form is hidden too.
  const canUseAdHoc = usePermission({ permission: adHocDestinationPermission });

  const [historyKey, setHistoryKey] = useState(0);
  const [restoresKey, setRestoresKey] = useState(0);
  const { reload } = inventory;
  const onRestoreStarted = useCallback(() => setRestoresKey(k => k + 1), []);
  const onRestoreFinished = useCallback(() => {
    // A restored PVC of this entity shows up in the inventory, and the restore in the list.
    reload();
    setRestoresKey(k => k + 1);
  }, [reload]);
  const onRunFinished = useCallback(
    (run: BackupRun) => {
      reload();
      setHistoryKey(k => k + 1);
      const failed = run.items.filter(i => i.status !== 'succeeded');
      alertApi.post({
        message: failed.length
          ? `Backup finished: ${run.items.length - failed.length} succeeded, ${failed.length} did not (${failed
              .map(i => `${i.pvc}: ${i.status}`)
              .join(', ')})`
          : `Backup finished: ${run.items.length} ${run.items.length === 1 ? 'volume' : 'volumes'} backed up`,
        severity: failed.length ? 'warning' : 'success',
        display: 'transient',
      });
    },
    [reload, alertApi],
  );
  const runs = useBackupRuns({
    api,
    entityRef,
    discover: canReadHistory.allowed,
    onRunFinished,
  });

  const destinations = useAsync(
    async () => (canBackUp.allowed ? api.getDestinations() : undefined),
    [api, canBackUp.allowed],
  );
  const destinationList: DestinationSummary[] = destinations.value?.destinations ?? [
    { id: LOCAL_DESTINATION_ID, type: 'local' },
  ];
  const [destination, setDestination] = useState<string>(LOCAL_DESTINATION_ID);
  const [adHocDraft, setAdHocDraft] = useState<AdHocDraft>(emptyAdHocDraft);
  const isAdHoc = destination === AD_HOC_DESTINATION;

  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [dialog, setDialog] = useState<{ open: boolean; busy: boolean; error?: Error }>({
    open: false,
    busy: false,
  });

  const volumes = inventory.value?.items;
  const selectedVolumes = useMemo(
    () => (volumes ?? []).filter(v => selected.has(volumeKey(v))),
    [volumes, selected],
  );

  const startBackup = async () => {
    setDialog(d => ({ ...d, busy: true, error: undefined }));
    try {
      const byCluster = new Map<string, Volume[]>();
      for (const v of selectedVolumes) {
        byCluster.set(v.cluster, [...(byCluster.get(v.cluster) ?? []), v]);
      }
      const target = isAdHoc ? toAdHocDestination(adHocDraft) : destination;
      if (typeof target === 'string' && isAdHoc) {
        throw new Error(target);
      }
      for (const [cluster, list] of byCluster) {
        const run = await api.createBackup({
          cluster,
          volumes: list.map(v => ({ namespace: v.namespace, name: v.name })),
          destination: target,
        });
        runs.track(run);
      }
      setSelected(new Set());
      // Credentials typed in for one run do not stay in the page.
      setAdHocDraft(draft => ({ ...draft, password: '', privateKey: '' }));
      setDialog({ open: false, busy: false });
    } catch (error) {
      setDialog({ open: true, busy: false, error: error as Error });
    }
  };

  const renderDetails = useCallback(
    (volume: Volume) => (
      <VolumeHistory
        volume={volume}
        entityRef={entityRef}
        refreshKey={historyKey}
        onRestoreStarted={onRestoreStarted}
        onRestoreFinished={onRestoreFinished}
      />
    ),
    [entityRef, historyKey, onRestoreStarted, onRestoreFinished],
  );

  if (inventory.loading && !inventory.value) {
    return <Progress />;
  }
  if (inventory.error && !inventory.value) {
    if (isEndpointUnavailable(inventory.error)) {
      return (
        <EndpointUnavailable
          title="Volume inventory is not available from this backend yet"
          endpoint="GET /api/volume-manager/volumes"
          action={<KubernetesAnnotationsHelp entity={entity} />}
        />
      );
    }
    return <ResponseErrorPanel error={inventory.error} />;
  }
  const value = inventory.value!;

  const actions = canBackUp.allowed ? (
    <>
      <DestinationPicker
        destinations={destinationList}
        allowAdHoc={Boolean(destinations.value?.allowAdHoc) && canUseAdHoc.allowed}
        value={destination}
        onChange={setDestination}
      />
      <Button
        variant="contained"
        color="primary"
        startIcon={<BackupIcon />}
        disabled={selected.size === 0}
        onClick={() => setDialog({ open: true, busy: false })}
      >
        Back up selected
      </Button>
    </>
  ) : undefined;

  return (
    <Grid container spacing={3}>
      {value.errors.length > 0 && (
        <Grid item xs={12}>
          <InventoryErrorsPanel errors={value.errors} />
        </Grid>
      )}
      {inventory.error && (
        <Grid item xs={12}>
          <ResponseErrorPanel error={inventory.error} title="Could not refresh the volumes" />
        </Grid>
      )}
      {value.items.some(v => v.ambiguousOwnership) && (
        <Grid item xs={12}>
          <AmbiguousOwnershipNotice volumes={value.items} />
        </Grid>
      )}
      {!canBackUp.loading && !canBackUp.allowed && value.items.length > 0 && (
        <Grid item xs={12}>
          <Alert severity="info" data-testid="backup-not-permitted">
            You can see the volumes of {entity.metadata.title ?? entity.metadata.name}, but
            you may not back them up: the portal's permission policy does not allow it for
            you (usually only the entity's owners may).
          </Alert>
        </Grid>
      )}
      {destinations.error && canBackUp.allowed && (
        <Grid item xs={12}>
          <ResponseErrorPanel error={destinations.error} title="Could not read the destinations; only local backups are offered" />
        </Grid>
      )}
      <Grid item xs={12}>
        {value.items.length > 0 ? (
          <VolumesTable
            volumes={value.items}
            selection={
              canBackUp.allowed ? { selected, onChange: setSelected } : undefined
            }
            activeItems={runs.items}
            renderDetails={canReadHistory.allowed ? renderDetails : undefined}
            actions={
              <>
                {runs.items.size > 0 && !runs.active && (
                  <Button size="small" onClick={runs.clearFinished}>
                    Dismiss finished
                  </Button>
                )}
                {actions}
              </>
            }
          />
        ) : (
          <EmptyState
            missing="data"
            title="No persistent volume claims found for this entity"
            description="No PVC in the clusters the backend can read belongs to this entity's workloads. If it should have volumes, check that its annotations select its pods."
            action={<KubernetesAnnotationsHelp entity={entity as Entity} />}
          />
        )}
      </Grid>
      {canReadHistory.allowed && (
        <Grid item xs={12}>
          <RestoresCard entityRef={entityRef} refreshKey={restoresKey} hideWhenEmpty />
        </Grid>
      )}
      <BackupDialog
        open={dialog.open}
        volumes={selectedVolumes}
        destination={destinationList.find(d => d.id === destination)}
        busy={dialog.busy}
        error={dialog.error}
        adHoc={isAdHoc ? { draft: adHocDraft, onChange: setAdHocDraft } : undefined}
        onConfirm={startBackup}
        onClose={() => setDialog({ open: false, busy: false })}
      />
    </Grid>
  );
};
