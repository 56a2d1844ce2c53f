export { RestoreDialog, type RestoreDialogProps } from './RestoreDialog';
export { RestoreProgress, type RestoreProgressProps } from './RestoreProgress';
export {
  initialRestoreDraft,
  restoreDraftProblems,
  toRestoreRequest,
  type RestoreDraft,
} from './restoreRequest';
export { useRestoreProgress, type RestoreProgressState } from './useRestoreProgress';
