export { StatusChip, isFinished, type StatusChipProps } from './StatusChip';
