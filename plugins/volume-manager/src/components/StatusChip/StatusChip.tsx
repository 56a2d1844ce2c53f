import type {
  BackupStatus,
  RestorePhase,
} from '@nkvm/backstage-plugin-volume-manager-common';
import Chip from '@material-ui/core/Chip';
import { makeStyles, type Theme } from '@material-ui/core/styles';

/** A backup item's status or a restore's phase. */
type Status = BackupStatus | RestorePhase;

const LABELS: Record<Status, string> = {
  queued: 'Queued',
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  interrupted: 'Interrupted',
  cancelled: 'Cancelled',
  // Restores spell it as Backstage's own APIs do.
  canceled: 'Canceled',
  verifying: 'Verifying',
  preflight: 'Preflight',
  restoring: 'Restoring',
};

const useStyles = makeStyles((theme: Theme) => {
  const palette = theme.palette;
  const tone = (color: string) => ({
    color,
    borderColor: color,
  });
  return {
    chip: { margin: 0, fontWeight: 500 },
    succeeded: tone(palette.success?.main ?? palette.primary.main),
    failed: tone(palette.error.main),
    interrupted: tone(palette.warning?.main ?? palette.error.main),
    cancelled: tone(palette.text.secondary),
    canceled: tone(palette.text.secondary),
    running: tone(palette.info?.main ?? palette.primary.main),
    verifying: tone(palette.info?.main ?? palette.primary.main),
    preflight: tone(palette.info?.main ?? palette.primary.main),
    restoring: tone(palette.info?.main ?? palette.primary.main),
    queued: tone(palette.text.secondary),
  };
});

/** @internal */
export interface StatusChipProps {
  status: Status | null | undefined;
  /** Shown for `null`: no backup ever ran. */
  noneLabel?: string;
}

/**
 * The status of a backup (or the phase of a restore) as an outlined chip, coloured by the theme (light and dark).
 *
 * @internal
 */
export const StatusChip = ({ status, noneLabel = 'No backup' }: StatusChipProps) => {
  const classes = useStyles();
  if (!status) {
    return (
      <Chip
        size="small"
        variant="outlined"
        label={noneLabel}
        className={classes.chip}
      />
    );
  }
  return (
    <Chip
      size="small"
      variant="outlined"
      label={LABELS[status] ?? status}
      className={`${classes.chip} ${classes[status] ?? ''}`}
      data-status={status}
    />
  );
};

/** Whether a status is final. @internal */
export const isFinished = (status: BackupStatus): boolean =>
  status !== 'queued' && status !== 'running';

/** Whether a restore's phase is final. @internal */
export const isRestoreFinished = (phase: RestorePhase): boolean =>
  phase === 'succeeded' ||
  phase === 'failed' ||
  phase === 'canceled' ||
  phase === 'interrupted';
