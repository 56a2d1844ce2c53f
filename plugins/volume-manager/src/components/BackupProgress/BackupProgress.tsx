import type { BackupItem } from '@nkvm/backstage-plugin-volume-manager-common';
import Box from '@material-ui/core/Box';
import LinearProgress from '@material-ui/core/LinearProgress';
import Typography from '@material-ui/core/Typography';
import {
  formatBytes,
  formatDuration,
  secondsBetween,
} from '../VolumesTable/format';
import { StatusChip } from '../StatusChip';

/** @internal */
export interface BackupProgressProps {
  item: BackupItem;
  /** The PVC's capacity in bytes, when known: an upper bound of what the archive can hold. */
  capacityBytes?: number;
}

const ENDINGS: Partial<Record<BackupItem['status'], string>> = {
  cancelled: 'The backup was cancelled',
  interrupted: 'The backup was interrupted',
  failed: 'The backup failed',
};

/** What the progress says in words, also used as the bar's accessible value text. */
export function describeProgress(
  item: BackupItem,
  capacityBytes?: number,
): { text: string; note?: string; percent?: number } {
  const bytes = item.progress?.bytes ?? item.bytes ?? 0;
  const rate = item.progress?.bytesPerSecond ?? 0;
  switch (item.status) {
    case 'queued':
      return { text: 'Queued: waiting for a free backup worker' };
    case 'running': {
      const parts = [`${formatBytes(bytes)} streamed`];
      if (rate > 0) {
        parts.push(`${formatBytes(rate)}/s`);
      }
      if (capacityBytes && capacityBytes > 0) {
        const percent = Math.min(100, (bytes / capacityBytes) * 100);
        if (rate > 0) {
          const remaining = Math.max(capacityBytes - bytes, 0) / rate;
          parts.push(`at most ${formatDuration(remaining)} left`);
        }
        return {
          text: parts.join(' · '),
          percent,
          note: `Estimated against the PVC's capacity (${formatBytes(
            capacityBytes,
          )}), an upper bound: the volume is rarely full and the archive is compressed, so the backup usually ends sooner.`,
        };
      }
      return { text: parts.join(' · '), note: 'The size is unknown, so there is no estimate of the time left.' };
    }
    case 'succeeded': {
      const seconds = secondsBetween(item.startedAt, item.finishedAt);
      return {
        text: `Backed up ${formatBytes(item.bytes)}${
          seconds !== undefined ? ` in ${formatDuration(seconds)}` : ''
        }`,
        percent: 100,
      };
    }
    default:
      return {
        text: item.error
          ? `${item.status}: ${item.error}`
          : ENDINGS[item.status] ?? 'The backup failed',
      };
  }
}

/**
 * The live progress of one PVC's backup: a bar, bytes, rate and, when the size is known, an
 * upper bound of the time left.
 *
 * @internal
 */
export const BackupProgress = ({ item, capacityBytes }: BackupProgressProps) => {
  const { text, note, percent } = describeProgress(item, capacityBytes);
  const active = item.status === 'queued' || item.status === 'running';
  const failed = !active && item.status !== 'succeeded';
  return (
    <Box
      display="flex"
      alignItems="center"
      gridGap={16}
      data-testid={`backup-progress-${item.namespace}-${item.pvc}`}
      data-status={item.status}
    >
      <StatusChip status={item.status} />
      <Box flex={1} minWidth={160}>
        {!failed && (
          <LinearProgress
            aria-label={`Backup progress of ${item.pvc}`}
            aria-valuetext={text}
            variant={
              percent !== undefined && (item.status === 'succeeded' || percent > 0)
                ? 'determinate'
                : 'indeterminate'
            }
            value={percent}
          />
        )}
        <Typography
          variant="body2"
          color={failed ? 'error' : 'textPrimary'}
          role="status"
        >
          {text}
        </Typography>
        {note && active && (
          <Typography variant="caption" color="textSecondary">
            {note}
          </Typography>
        )}
      </Box>
    </Box>
  );
};
