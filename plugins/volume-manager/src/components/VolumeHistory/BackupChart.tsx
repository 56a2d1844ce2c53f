import type { BackupItem } from '@nkvm/backstage-plugin-volume-manager-common';
import Box from '@material-ui/core/Box';
import Typography from '@material-ui/core/Typography';
import { useTheme } from '@material-ui/core/styles';
import {
  formatBytes,
  formatDuration,
  formatExactTimestamp,
  secondsBetween,
} from '../VolumesTable/format';

interface Point {
  time: number;
  value: number;
  label: string;
}

const WIDTH = 320;
const HEIGHT = 96;
const PAD = { left: 4, right: 4, top: 8, bottom: 8 };

function Sparkline({
  title,
  points,
  format,
  color,
}: {
  title: string;
  points: Point[];
  format: (value: number) => string;
  color: string;
}) {
  const theme = useTheme();
  const times = points.map(p => p.time);
  const values = points.map(p => p.value);
  const minT = Math.min(...times);
  const maxT = Math.max(...times);
  const maxV = Math.max(...values, 0);
  const x = (t: number) =>
    maxT === minT
      ? WIDTH / 2
      : PAD.left + ((t - minT) / (maxT - minT)) * (WIDTH - PAD.left - PAD.right);
  const y = (v: number) =>
    maxV === 0
      ? HEIGHT - PAD.bottom
      : HEIGHT - PAD.bottom - (v / maxV) * (HEIGHT - PAD.top - PAD.bottom);
  const last = points[points.length - 1];
  const summary = `${title}: ${points.length} successful backups; latest ${format(
    last.value,
  )}, largest ${format(maxV)}`;
  return (
    <Box flex="1 1 280px" minWidth={240}>
      <Typography variant="subtitle2">{title}</Typography>
      <svg
        role="img"
        aria-label={summary}
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        width={WIDTH}
        height={HEIGHT}
        style={{ maxWidth: '100%', display: 'block' }}
      >
        <line
          x1={0}
          x2={WIDTH}
          y1={HEIGHT - PAD.bottom}
          y2={HEIGHT - PAD.bottom}
          stroke={theme.palette.divider}
        />
        {points.length > 1 && (
          <polyline
            fill="none"
            stroke={color}
            strokeWidth={2}
            points={points.map(p => `${x(p.time)},${y(p.value)}`).join(' ')}
          />
        )}
        {points.map(p => (
          <circle key={`${p.time}-${p.label}`} cx={x(p.time)} cy={y(p.value)} r={3} fill={color}>
            <title>{`${p.label}: ${format(p.value)}`}</title>
          </circle>
        ))}
      </svg>
      <Typography variant="caption" color="textSecondary">
        latest {format(last.value)} · max {format(maxV)}
      </Typography>
    </Box>
  );
}

/** @internal */
export interface BackupChartProps {
  items: BackupItem[];
}

/**
 * Archive size and duration of a PVC's successful backups over time, as two small inline SVG
 * charts (no chart library).
 *
 * @internal
 */
export const BackupChart = ({ items }: BackupChartProps) => {
  const theme = useTheme();
  const done = items
    .filter(i => i.status === 'succeeded' && i.finishedAt)
    .map(i => ({
      time: new Date(i.finishedAt!).getTime(),
      label: formatExactTimestamp(i.finishedAt!),
      bytes: i.bytes ?? 0,
      seconds: secondsBetween(i.startedAt, i.finishedAt),
    }))
    .sort((a, b) => a.time - b.time);
  if (done.length === 0) {
    return null;
  }
  const sizes: Point[] = done.map(d => ({ time: d.time, value: d.bytes, label: d.label }));
  const durations: Point[] = done
    .filter(d => d.seconds !== undefined)
    .map(d => ({ time: d.time, value: d.seconds!, label: d.label }));
  return (
    <Box display="flex" flexWrap="wrap" gridGap={24} mb={2} data-testid="backup-chart">
      <Sparkline
        title="Archive size"
        points={sizes}
        format={formatBytes}
        color={theme.palette.primary.main}
      />
      {durations.length > 0 && (
        <Sparkline
          title="Duration"
          points={durations}
          format={formatDuration}
          color={theme.palette.secondary.main}
        />
      )}
    </Box>
  );
};
