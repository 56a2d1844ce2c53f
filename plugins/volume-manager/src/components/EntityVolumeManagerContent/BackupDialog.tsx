import { ResponseErrorPanel } from '@backstage/core-components';
import type {
  DestinationSummary,
  Volume,
} from '@nkvm/backstage-plugin-volume-manager-common';
import Button from '@material-ui/core/Button';
import Dialog from '@material-ui/core/Dialog';
import DialogActions from '@material-ui/core/DialogActions';
import DialogContent from '@material-ui/core/DialogContent';
import DialogContentText from '@material-ui/core/DialogContentText';
import DialogTitle from '@material-ui/core/DialogTitle';
import Typography from '@material-ui/core/Typography';
import { capacityBytes, formatBytes } from '../VolumesTable/format';
import {
  AdHocDestinationForm,
  toAdHocDestination,
  type AdHocDraft,
} from './AdHocDestinationForm';

/** How many PVCs the dialog lists by name. */
const LISTED = 10;

/** @internal */
export interface BackupDialogProps {
  open: boolean;
  volumes: Volume[];
  destination: DestinationSummary | undefined;
  busy: boolean;
  error?: Error;
  /** Set when the user picked a one-off destination: the form is shown in the dialog. */
  adHoc?: { draft: AdHocDraft; onChange(draft: AdHocDraft): void };
  onConfirm(): void;
  onClose(): void;
}

export function describeDestination(destination: DestinationSummary | undefined): string {
  if (!destination) return 'local';
  if (destination.type === 'local') return "the backend's local backup directory";
  let where = '';
  if (destination.host) {
    const user = destination.username ? `${destination.username}@` : '';
    const port = destination.port ? `:${destination.port}` : '';
    const dir = destination.remoteDir ? `:${destination.remoteDir}` : '';
    where = ` (${user}${destination.host}${port}${dir})`;
  }
  return `${destination.id}, ${destination.type.toUpperCase()}${where}`;
}

/**
 * Confirmation before a backup run: what will be backed up, and where to.
 *
 * @internal
 */
export const BackupDialog = ({
  open,
  volumes,
  destination,
  busy,
  error,
  adHoc,
  onConfirm,
  onClose,
}: BackupDialogProps) => {
  const adHocProblem = adHoc ? toAdHocDestination(adHoc.draft) : undefined;
  const incomplete = typeof adHocProblem === 'string' ? adHocProblem : undefined;
  const total = volumes.reduce((sum, v) => sum + (capacityBytes(v) ?? 0), 0);
  const clusters = new Set(volumes.map(v => v.cluster));
  return (
    <Dialog open={open} onClose={busy ? undefined : onClose} aria-labelledby="nkvm-backup-dialog-title" fullWidth maxWidth="sm">
      <DialogTitle id="nkvm-backup-dialog-title">
        Back up {volumes.length} {volumes.length === 1 ? 'volume' : 'volumes'}?
      </DialogTitle>
      <DialogContent>
        <DialogContentText component="div">
          <Typography paragraph>
            A short-lived helper pod mounts each PVC read-only and streams a
            .tar.gz archive to{' '}
            {adHoc ? 'the one-off destination below' : describeDestination(destination)}. The
            workloads keep running.
          </Typography>
          <ul aria-label="Volumes to back up">
            {volumes.slice(0, LISTED).map(v => (
              <li key={`${v.cluster}/${v.namespace}/${v.name}`}>
                {v.namespace}/{v.name} ({v.cluster})
              </li>
            ))}
            {volumes.length > LISTED && <li>and {volumes.length - LISTED} more</li>}
          </ul>
          {total > 0 && (
            <Typography variant="body2" paragraph>
              Their capacity adds up to {formatBytes(total)}; that is an upper bound, the
              archives are usually much smaller.
            </Typography>
          )}
          {clusters.size > 1 && (
            <Typography variant="body2" paragraph>
              They are on {clusters.size} clusters, so this starts one run per cluster.
            </Typography>
          )}
        </DialogContentText>
        {adHoc && <AdHocDestinationForm draft={adHoc.draft} onChange={adHoc.onChange} />}
        {incomplete && (
          <Typography variant="body2" color="textSecondary">
            {incomplete}.
          </Typography>
        )}
        {error && <ResponseErrorPanel error={error} title="The backup could not be started" />}
      </DialogContent>
      <DialogActions>
        <Button onClick={onClose} disabled={busy}>
          Cancel
        </Button>
        <Button onClick={onConfirm} color="primary" variant="contained" disabled={busy || volumes.length === 0 || Boolean(incomplete)}>
          {busy ? 'Starting…' : `Back up ${volumes.length}`}
        </Button>
      </DialogActions>
    </Dialog>
  );
};
