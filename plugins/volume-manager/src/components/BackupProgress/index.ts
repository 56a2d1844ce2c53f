export { BackupProgress, describeProgress, type BackupProgressProps } from './BackupProgress';
