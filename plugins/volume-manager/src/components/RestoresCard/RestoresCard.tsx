import { useEffect, useState } from 'react';
import { InfoCard } from '@backstage/core-components';
import { alertApiRef, useApi } from '@backstage/core-plugin-api';
import { EntityRefLink } from '@backstage/plugin-catalog-react';
import type { Restore } from '@nkvm/backstage-plugin-volume-manager-common';
import Button from '@material-ui/core/Button';
import Table from '@material-ui/core/Table';
import TableBody from '@material-ui/core/TableBody';
import TableCell from '@material-ui/core/TableCell';
import TableHead from '@material-ui/core/TableHead';
import TableRow from '@material-ui/core/TableRow';
import Tooltip from '@material-ui/core/Tooltip';
import Typography from '@material-ui/core/Typography';
import useAsyncRetry from 'react-use/esm/useAsyncRetry';
import { errorMessage, isEndpointUnavailable, volumeManagerApiRef } from '../../api';
import { isRestoreFinished, StatusChip } from '../StatusChip';
import {
  formatBytes,
  formatExactTimestamp,
  formatRelativeTime,
} from '../VolumesTable/format';
import { AsyncSection } from '../VolumeManagerPage/AsyncSection';

/** How many recent restores the card reads. */
export const RESTORES_LIMIT = 100;
const POLL_MS = 2000;

/** Where a restore writes, in words: `ns/name` (new PVC) or `ns/name (replace)`. @internal */
export function describeRestoreTarget(restore: Restore): string {
  const t = restore.target;
  const name = restore.targetPvc?.name ?? t.name ?? '(name not chosen yet)';
  const where = `${t.namespace}/${name}`;
  return t.type === 'newPvc' ? `${where} (new PVC)` : `${where} (${t.mode})`;
}

function progressText(restore: Restore): string {
  if (restore.phase === 'verifying' || restore.phase === 'restoring') {
    const total = restore.bytesTotal ? ` of ${formatBytes(restore.bytesTotal)}` : '';
    return `${formatBytes(restore.bytesDone)}${total}`;
  }
  if (restore.phase === 'succeeded' && restore.uncompressedBytes !== null) {
    return `${formatBytes(restore.uncompressedBytes)} in ${restore.entries ?? '?'} entries`;
  }
  return '—';
}

/** @internal */
export interface RestoresCardProps {
  /** Only the restores into this entity's PVCs (the entity tab); all of them when unset. */
  entityRef?: string;
  /** Changes when the list should be read again (a restore was started or ended). */
  refreshKey?: number;
  /** Render nothing while there is no restore to show (the entity tab). */
  hideWhenEmpty?: boolean;
}

/**
 * Restores across the portal, or into one entity's PVCs (`GET /restores`), newest first: phase,
 * source backup, target PVC, requester, and cancel for the ones that have not ended. The
 * backend decides whether the user may cancel, and which restores the user may see.
 *
 * @internal
 */
export const RestoresCard = ({ entityRef, refreshKey = 0, hideWhenEmpty = false }: RestoresCardProps) => {
  const api = useApi(volumeManagerApiRef);
  const alertApi = useApi(alertApiRef);
  const state = useAsyncRetry(
    () => api.listRestores(entityRef ? { entityRef, limit: RESTORES_LIMIT } : { limit: RESTORES_LIMIT }),
    [api, entityRef, refreshKey],
  );
  const [cancelling, setCancelling] = useState<ReadonlySet<string>>(new Set());
  const restores = state.value?.items ?? [];
  const anyActive = restores.some(r => !isRestoreFinished(r.phase));
  const { retry, loading } = state;

  useEffect(() => {
    if (!anyActive || loading) return undefined;
    const timer = setTimeout(retry, POLL_MS);
    return () => clearTimeout(timer);
  }, [anyActive, loading, retry]);

  const cancel = async (id: string) => {
    setCancelling(s => new Set(s).add(id));
    try {
      await api.cancelRestore(id);
      alertApi.post({ message: `Canceled restore ${id}`, severity: 'info', display: 'transient' });
    } catch (error) {
      alertApi.post({ message: `Could not cancel restore ${id}: ${errorMessage(error)}`, severity: 'error' });
    } finally {
      setCancelling(s => {
        const next = new Set(s);
        next.delete(id);
        return next;
      });
      retry();
    }
  };

  // On the entity tab, nothing until there is something to show (or a real error).
  if (
    hideWhenEmpty &&
    (state.value
      ? restores.length === 0
      : !state.error || isEndpointUnavailable(state.error))
  ) {
    return null;
  }
  return (
    <InfoCard
      title="Restores"
      subheader={
        entityRef
          ? `The latest ${RESTORES_LIMIT} restores into this entity's volumes`
          : `The latest ${RESTORES_LIMIT} restores across the portal`
      }
    >
      <AsyncSection
        state={state.value ? { loading: false, value: state.value } : state}
        unavailableTitle="Restores are not available from this backend yet"
        endpoint="GET /api/volume-manager/restores"
      >
        {() =>
          restores.length === 0 ? (
            <Typography>No restore has run yet.</Typography>
          ) : (
            <Table size="small" aria-label="Restores">
              <TableHead>
                <TableRow>
                  <TableCell>Restore</TableCell>
                  <TableCell>Phase</TableCell>
                  <TableCell>Source</TableCell>
                  <TableCell>Target</TableCell>
                  <TableCell>Progress</TableCell>
                  <TableCell>Requested</TableCell>
                  <TableCell>Actions</TableCell>
                </TableRow>
              </TableHead>
              <TableBody>
                {restores.map(r => (
                  <TableRow key={r.id} data-restore={r.id} data-phase={r.phase}>
                    <TableCell>
                      <Tooltip title={r.id}>
                        <code>{r.id.slice(0, 8)}</code>
                      </Tooltip>
                    </TableCell>
                    <TableCell>
                      <StatusChip status={r.phase} />
                      {r.error && (
                        <Typography variant="caption" color="error" component="p">
                          {r.error}
                        </Typography>
                      )}
                    </TableCell>
                    <TableCell>
                      <Tooltip title={r.source.archiveUri}>
                        <Typography variant="body2">
                          {r.source.namespace}/{r.source.pvc}
                        </Typography>
                      </Tooltip>
                      <Typography variant="caption" color="textSecondary">
                        {r.source.cluster} · {r.source.destination}
                      </Typography>
                    </TableCell>
                    <TableCell>
                      <Typography variant="body2">{describeRestoreTarget(r)}</Typography>
                      <Typography variant="caption" color="textSecondary" component="p">
                        {r.target.cluster}
                        {r.entityRef && (
                          <>
                            {' · '}
                            <EntityRefLink entityRef={r.entityRef} />
                          </>
                        )}
                      </Typography>
                    </TableCell>
                    <TableCell>{progressText(r)}</TableCell>
                    <TableCell>
                      <Typography variant="body2">{r.requestedBy}</Typography>
                      <Tooltip title={formatExactTimestamp(r.createdAt)}>
                        <Typography variant="caption" color="textSecondary" component="time" dateTime={r.createdAt}>
                          {formatRelativeTime(r.createdAt)}
                        </Typography>
                      </Tooltip>
                    </TableCell>
                    <TableCell>
                      {isRestoreFinished(r.phase) ? (
                        '—'
                      ) : (
                        <Button
                          size="small"
                          variant="outlined"
                          onClick={() => cancel(r.id)}
                          disabled={cancelling.has(r.id)}
                          aria-label={`Cancel restore ${r.id}`}
                        >
                          {cancelling.has(r.id) ? 'Canceling…' : 'Cancel'}
                        </Button>
                      )}
                    </TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          )
        }
      </AsyncSection>
    </InfoCard>
  );
};
