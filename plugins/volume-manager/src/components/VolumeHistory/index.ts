export { VolumeHistory, HISTORY_LIMIT, type VolumeHistoryProps } from './VolumeHistory';
export { BackupChart, type BackupChartProps } from './BackupChart';
export { saveArchive, type SavedArchive } from './saveArchive';
