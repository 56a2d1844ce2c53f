import type { BackupStatus } from '@nkvm/backstage-plugin-volume-manager-common';
import Chip from '@material-ui/core/Chip';
import { makeStyles, type Theme } from '@material-ui/core/styles';

const LABELS: Record<BackupStatus, string> = {
  queued: 'Queued',
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  interrupted: 'Interrupted',
  cancelled: 'Cancelled',
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
    running: tone(palette.info?.main ?? palette.primary.main),
    queued: tone(palette.text.secondary),
  };
});

/** @internal */
export interface StatusChipProps {
  status: BackupStatus | null | undefined;
  /** Shown for `null`: no backup ever ran. */
  noneLabel?: string;
}

/**
 * The status of a backup as an outlined chip, coloured by the theme (light and dark).
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
