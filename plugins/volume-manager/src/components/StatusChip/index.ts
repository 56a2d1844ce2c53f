export {
  StatusChip,
  isFinished,
  isRestoreFinished,
  type StatusChipProps,
} from './StatusChip';
