import { useEffect, useMemo, useState } from 'react';
import { InfoCard } from '@backstage/core-components';
import { alertApiRef, useApi } from '@backstage/core-plugin-api';
import type {
  BackupItem,
  BackupStatus,
} from '@nkvm/backstage-plugin-volume-manager-common';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import Table from '@material-ui/core/Table';
import TableBody from '@material-ui/core/TableBody';
import TableCell from '@material-ui/core/TableCell';
import TableHead from '@material-ui/core/TableHead';
import TableRow from '@material-ui/core/TableRow';
import Tooltip from '@material-ui/core/Tooltip';
import Typography from '@material-ui/core/Typography';
import useAsyncRetry from 'react-use/esm/useAsyncRetry';
import { errorMessage, volumeManagerApiRef } from '../../api';
import { isFinished, StatusChip } from '../StatusChip';
import {
  formatBytes,
  formatExactTimestamp,
  formatRelativeTime,
} from '../VolumesTable/format';
import { AsyncSection } from './AsyncSection';

/** How many recent items the runs list reads. */
export const RUNS_LIMIT = 200;
const POLL_MS = 2000;

/** @internal */
export interface RunSummary {
  runId: string;
  cluster: string;
  requestedBy: string;
  startedAt: string | null;
  items: BackupItem[];
  active: boolean;
}

/** Groups history items (newest first) into runs. @internal */
export function groupRuns(items: BackupItem[]): RunSummary[] {
  const runs = new Map<string, RunSummary>();
  for (const item of items) {
    let run = runs.get(item.runId);
    if (!run) {
      run = {
        runId: item.runId,
        cluster: item.cluster,
        requestedBy: item.requestedBy,
        startedAt: null,
        items: [],
        active: false,
      };
      runs.set(item.runId, run);
    }
    run.items.push(item);
    run.active ||= !isFinished(item.status);
    if (item.startedAt && (!run.startedAt || item.startedAt < run.startedAt)) {
      run.startedAt = item.startedAt;
    }
  }
  return [...runs.values()];
}

const counts = (items: BackupItem[]) => {
  const byStatus = new Map<BackupStatus, number>();
  for (const i of items) byStatus.set(i.status, (byStatus.get(i.status) ?? 0) + 1);
  return [...byStatus];
};

/**
 * Backup runs across the portal (`GET /backups`), newest first, with cancel for the ones that
 * have not finished. The backend decides whether the user may cancel.
 *
 * @internal
 */
export const RunsCard = () => {
  const api = useApi(volumeManagerApiRef);
  const alertApi = useApi(alertApiRef);
  const state = useAsyncRetry(() => api.listBackups({ limit: RUNS_LIMIT }), [api]);
  const [cancelling, setCancelling] = useState<ReadonlySet<string>>(new Set());
  const runs = useMemo(() => groupRuns(state.value?.items ?? []), [state.value]);
  const anyActive = runs.some(r => r.active);
  const { retry, loading } = state;

  useEffect(() => {
    if (!anyActive || loading) return undefined;
    const timer = setTimeout(retry, POLL_MS);
    return () => clearTimeout(timer);
  }, [anyActive, loading, retry]);

  const cancel = async (runId: string) => {
    setCancelling(s => new Set(s).add(runId));
    try {
      await api.cancelBackupRun(runId);
      alertApi.post({ message: `Cancelled run ${runId}`, severity: 'info', display: 'transient' });
    } catch (error) {
      alertApi.post({ message: `Could not cancel run ${runId}: ${errorMessage(error)}`, severity: 'error' });
    } finally {
      setCancelling(s => {
        const next = new Set(s);
        next.delete(runId);
        return next;
      });
      retry();
    }
  };

  return (
    <InfoCard title="Backup runs" subheader={`The runs of the latest ${RUNS_LIMIT} backups across the portal`}>
      <AsyncSection
        state={state.value ? { loading: false, value: state.value } : state}
        unavailableTitle="Backup history is not available from this backend yet"
        endpoint="GET /api/volume-manager/backups"
      >
        {() =>
          runs.length === 0 ? (
            <Typography>No backup has run yet.</Typography>
          ) : (
            <Table size="small" aria-label="Backup runs">
              <TableHead>
                <TableRow>
                  <TableCell>Run</TableCell>
                  <TableCell>Cluster</TableCell>
                  <TableCell>Volumes</TableCell>
                  <TableCell>Status</TableCell>
                  <TableCell>Started</TableCell>
                  <TableCell>Size</TableCell>
                  <TableCell>Requested by</TableCell>
                  <TableCell>Actions</TableCell>
                </TableRow>
              </TableHead>
              <TableBody>
                {runs.map(run => (
                  <TableRow key={run.runId} data-run={run.runId}>
                    <TableCell>
                      <Tooltip title={run.runId}>
                        <code>{run.runId.slice(0, 8)}</code>
                      </Tooltip>
                    </TableCell>
                    <TableCell>{run.cluster}</TableCell>
                    <TableCell>
                      {run.items.map(i => (
                        <Typography key={i.id} variant="body2">
                          {i.namespace}/{i.pvc}
                        </Typography>
                      ))}
                    </TableCell>
                    <TableCell>
                      <Box display="flex" gridGap={4} flexWrap="wrap">
                        {counts(run.items).map(([status, n]) => (
                          <Box key={status} display="flex" alignItems="center" gridGap={2}>
                            <StatusChip status={status} />
                            {n > 1 && <Typography variant="caption">×{n}</Typography>}
                          </Box>
                        ))}
                      </Box>
                    </TableCell>
                    <TableCell>
                      {run.startedAt ? (
                        <Tooltip title={formatExactTimestamp(run.startedAt)}>
                          <time dateTime={run.startedAt}>{formatRelativeTime(run.startedAt)}</time>
                        </Tooltip>
                      ) : (
                        'not started'
                      )}
                    </TableCell>
                    <TableCell>
                      {formatBytes(
                        run.items.reduce((s, i) => s + (i.progress?.bytes ?? i.bytes ?? 0), 0),
                      )}
                    </TableCell>
                    <TableCell>{run.requestedBy}</TableCell>
                    <TableCell>
                      {run.active ? (
                        <Button
                          size="small"
                          variant="outlined"
                          onClick={() => cancel(run.runId)}
                          disabled={cancelling.has(run.runId)}
                          aria-label={`Cancel run ${run.runId}`}
                        >
                          {cancelling.has(run.runId) ? 'Cancelling…' : 'Cancel'}
                        </Button>
                      ) : (
                        '—'
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
