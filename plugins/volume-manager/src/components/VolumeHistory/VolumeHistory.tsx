import { useState } from 'react';
import {
  Progress,
  ResponseErrorPanel,
} from '@backstage/core-components';
import { alertApiRef, useApi } from '@backstage/core-plugin-api';
import { usePermission } from '@backstage/plugin-permission-react';
import {
  archiveDownloadPermission,
  restoreCreatePermission,
  restoreInPlacePermission,
} from '@nkvm/backstage-plugin-volume-manager-common';
import type {
  BackupItem,
  Restore,
  Volume,
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
import GetAppIcon from '@material-ui/icons/GetApp';
import RestoreIcon from '@material-ui/icons/Restore';
import useAsync from 'react-use/esm/useAsync';
import { volumeManagerApiRef } from '../../api';
import { RestoreDialog } from '../RestoreDialog';
import { StatusChip } from '../StatusChip';
import {
  formatBytes,
  formatDuration,
  formatExactTimestamp,
  formatRelativeTime,
  secondsBetween,
} from '../VolumesTable/format';
import { BackupChart } from './BackupChart';
import { saveArchive } from './saveArchive';

/** How many of a PVC's most recent backups the history shows. */
export const HISTORY_LIMIT = 20;

/** @internal */
export interface VolumeHistoryProps {
  volume: Volume;
  /** The entity the history is read for (required by the backend for non-admins). */
  entityRef?: string;
  /** Changes when the history should be read again (a backup of this PVC finished). */
  refreshKey?: number;
  /** Called when the backend accepted a restore started from this history. */
  onRestoreStarted?(restore: Restore): void;
  /** Called when a restore started from this history ends, whatever the outcome. */
  onRestoreFinished?(restore: Restore): void;
}

const DownloadButton = ({ item }: { item: BackupItem }) => {
  const api = useApi(volumeManagerApiRef);
  const alertApi = useApi(alertApiRef);
  const [busy, setBusy] = useState(false);
  const onClick = async () => {
    setBusy(true);
    try {
      const saved = await saveArchive(api, item);
      alertApi.post({
        message:
          saved.verified === true
            ? `Saved ${saved.fileName} (${formatBytes(saved.bytes)}); its sha256 matches the recorded checksum`
            : `Saved ${saved.fileName} (${formatBytes(saved.bytes)})`,
        severity: 'success',
        display: 'transient',
      });
    } catch (error) {
      alertApi.post({
        message: `Download failed: ${(error as Error).message}`,
        severity: 'error',
      });
    } finally {
      setBusy(false);
    }
  };
  return (
    <Button
      size="small"
      variant="outlined"
      startIcon={<GetAppIcon />}
      onClick={onClick}
      disabled={busy}
      aria-label={`Download the archive of ${item.pvc} from ${item.finishedAt ?? ''}`}
    >
      {busy ? 'Downloading…' : 'Download'}
    </Button>
  );
};

const isLocalArchive = (item: BackupItem) =>
  item.status === 'succeeded' &&
  Boolean(item.archiveUri) &&
  item.archiveUri!.startsWith('file:');

function archiveText(item: BackupItem): string {
  if (item.status !== 'succeeded') return '—';
  if (isLocalArchive(item)) return 'Not permitted';
  return item.archiveUri ?? '—';
}

const ChecksumCell = ({ item }: { item: BackupItem }) => {
  if (item.sha256) {
    return (
      <Tooltip title={item.sha256}>
        <Typography
          variant="body2"
          component="code"
          data-sha256={item.sha256}
          style={{ fontFamily: 'monospace', wordBreak: 'break-all' }}
        >
          {item.sha256.slice(0, 16)}…
        </Typography>
      </Tooltip>
    );
  }
  if (item.error) {
    return (
      <Typography variant="body2" color="error">
        {item.error}
      </Typography>
    );
  }
  return <>—</>;
};

const ArchiveCell = ({ item, canDownload }: { item: BackupItem; canDownload: boolean }) =>
  isLocalArchive(item) && canDownload ? (
    <DownloadButton item={item} />
  ) : (
    <Typography variant="body2" color="textSecondary">
      {archiveText(item)}
    </Typography>
  );


/**
 * The backup history of one PVC: a chart of archive size and duration over time, and the most
 * recent runs with their sha256 and an archive download.
 *
 * @internal
 */
export const VolumeHistory = ({
  volume,
  entityRef,
  refreshKey = 0,
  onRestoreStarted,
  onRestoreFinished,
}: VolumeHistoryProps) => {
  const api = useApi(volumeManagerApiRef);
  const resourceRef = volume.entityRef ?? entityRef;
  // Checked against the PVC's own entity; the backend checks again on download.
  const { allowed: canDownload } = usePermission({
    permission: archiveDownloadPermission,
    resourceRef,
  });
  // The backend checks restore.create against the target's entity, and backup.read and
  // archive.download against the source's (a restore hands over the backup's data, as a download
  // would); here the PVC's own entity decides whether to offer the action at all.
  const { allowed: canRestoreInto } = usePermission({
    permission: restoreCreatePermission,
    resourceRef,
  });
  const canRestore = canRestoreInto && canDownload;
  const { allowed: canRestoreInPlace } = usePermission({
    permission: restoreInPlacePermission,
    resourceRef,
  });
  const [restoring, setRestoring] = useState<BackupItem>();
  const state = useAsync(
    () =>
      api.listBackups({
        entityRef: volume.entityRef ?? entityRef,
        cluster: volume.cluster,
        namespace: volume.namespace,
        pvc: volume.name,
        limit: HISTORY_LIMIT,
      }),
    [api, volume.cluster, volume.namespace, volume.name, entityRef, refreshKey],
  );
  if (state.loading && !state.value) {
    return <Progress />;
  }
  if (state.error) {
    return <ResponseErrorPanel error={state.error} title="Could not read the backup history" />;
  }
  const items = state.value?.items ?? [];
  if (items.length === 0) {
    return (
      <Typography variant="body2" color="textSecondary">
        No backup of {volume.name} has run yet.
      </Typography>
    );
  }
  return (
    <Box data-testid={`history-${volume.namespace}-${volume.name}`}>
      <BackupChart items={items} />
      <Table size="small" aria-label={`Backup history of ${volume.name}`}>
        <TableHead>
          <TableRow>
            <TableCell>Status</TableCell>
            <TableCell>Finished</TableCell>
            <TableCell>Duration</TableCell>
            <TableCell>Archive size</TableCell>
            <TableCell>sha256</TableCell>
            <TableCell>Requested by</TableCell>
            <TableCell>Archive</TableCell>
            {canRestore && <TableCell>Restore</TableCell>}
          </TableRow>
        </TableHead>
        <TableBody>
          {items.map(item => (
            <TableRow key={item.id} data-item-id={item.id}>
              <TableCell>
                <StatusChip status={item.status} />
              </TableCell>
              <TableCell>
                {item.finishedAt ? (
                  <Tooltip title={formatExactTimestamp(item.finishedAt)}>
                    <time dateTime={item.finishedAt}>
                      {formatRelativeTime(item.finishedAt)}
                    </time>
                  </Tooltip>
                ) : (
                  '—'
                )}
              </TableCell>
              <TableCell>
                {formatDuration(secondsBetween(item.startedAt, item.finishedAt))}
              </TableCell>
              <TableCell>{formatBytes(item.bytes)}</TableCell>
              <TableCell>
                <ChecksumCell item={item} />
              </TableCell>
              <TableCell>{item.requestedBy}</TableCell>
              <TableCell>
                <ArchiveCell item={item} canDownload={canDownload} />
              </TableCell>
              {canRestore && (
                <TableCell>
                  {item.status === 'succeeded' ? (
                    <Button
                      size="small"
                      variant="outlined"
                      startIcon={<RestoreIcon />}
                      onClick={() => setRestoring(item)}
                      aria-label={`Restore the backup of ${item.pvc} from ${item.finishedAt ?? ''}`}
                    >
                      Restore
                    </Button>
                  ) : (
                    '—'
                  )}
                </TableCell>
              )}
            </TableRow>
          ))}
        </TableBody>
      </Table>
      {restoring && canRestore && (
        <RestoreDialog
          key={restoring.id}
          open
          item={restoring}
          volume={volume}
          allowInPlace={canRestoreInPlace}
          onClose={() => setRestoring(undefined)}
          onStarted={onRestoreStarted}
          onFinished={onRestoreFinished}
        />
      )}
    </Box>
  );
};
