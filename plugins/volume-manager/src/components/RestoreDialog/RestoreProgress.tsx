import { EntityRefLink } from '@backstage/plugin-catalog-react';
import type {
  Restore,
  RestorePhase,
} from '@nkvm/backstage-plugin-volume-manager-common';
import Box from '@material-ui/core/Box';
import LinearProgress from '@material-ui/core/LinearProgress';
import List from '@material-ui/core/List';
import ListItem from '@material-ui/core/ListItem';
import ListItemIcon from '@material-ui/core/ListItemIcon';
import ListItemText from '@material-ui/core/ListItemText';
import Step from '@material-ui/core/Step';
import StepLabel from '@material-ui/core/StepLabel';
import Stepper from '@material-ui/core/Stepper';
import Typography from '@material-ui/core/Typography';
import CheckCircleIcon from '@material-ui/icons/CheckCircle';
import ErrorIcon from '@material-ui/icons/Error';
import Alert from '@material-ui/lab/Alert';
import { StatusChip } from '../StatusChip';
import { formatBytes } from '../VolumesTable/format';
import { RUNNING_PHASES } from './useRestoreProgress';

const STEP_LABELS: Record<string, string> = {
  queued: 'Queued',
  verifying: 'Verifying',
  preflight: 'Preflight',
  restoring: 'Restoring',
  done: 'Done',
};
const STEPS = [...RUNNING_PHASES, 'done'];

/** The step a restore is at; a succeeded restore has completed every step. */
function activeStep(restore: Restore, lastRunningPhase: RestorePhase): number {
  if (restore.phase === 'succeeded') return STEPS.length;
  const index = RUNNING_PHASES.indexOf(restore.phase);
  return index >= 0 ? index : RUNNING_PHASES.indexOf(lastRunningPhase);
}

/** What the restore is doing in its phase, with the bytes where they mean something. */
function describeBytes(restore: Restore): string | undefined {
  const total = restore.bytesTotal;
  const done = formatBytes(restore.bytesDone);
  const of = total !== null && total > 0 ? ` of ${formatBytes(total)}` : '';
  switch (restore.phase) {
    case 'verifying':
      return `Verifying the archive: ${done}${of} read`;
    case 'restoring':
      return `Restoring: ${done}${of} written to the volume`;
    case 'queued':
      return 'Queued: waiting for a free restore worker, and for any backup or restore of the PVC to end';
    case 'preflight':
      return 'Preflight: checking the target PVC, its room and the helper pod';
    default:
      return undefined;
  }
}

const ENDINGS: Partial<Record<RestorePhase, string>> = {
  failed: 'The restore failed',
  canceled: 'The restore was canceled',
  interrupted: 'The restore was interrupted: the backend running it stopped before it finished',
};

const pvcText = (pvc: { cluster: string; namespace: string; name: string }) =>
  `${pvc.namespace}/${pvc.name} on ${pvc.cluster}`;

/** @internal */
export interface RestoreProgressProps {
  restore: Restore;
  lastRunningPhase: RestorePhase;
}

/**
 * The live state of one restore: a phase stepper, bytes done of the total, the pre-scan's
 * figures, every check with its result, the error, and on success the PVC written to, linked
 * to its catalog entity when one matches.
 *
 * @internal
 */
export const RestoreProgress = ({ restore, lastRunningPhase }: RestoreProgressProps) => {
  const step = activeStep(restore, lastRunningPhase);
  const ended = restore.phase !== 'succeeded' && !RUNNING_PHASES.includes(restore.phase);
  const bytes = describeBytes(restore);
  const streaming = restore.phase === 'verifying' || restore.phase === 'restoring';
  const percent =
    streaming && restore.bytesTotal && restore.bytesTotal > 0
      ? Math.min(100, (restore.bytesDone / restore.bytesTotal) * 100)
      : undefined;
  const target = restore.targetPvc;
  return (
    <Box data-testid="restore-progress" data-phase={restore.phase}>
      <Box display="flex" alignItems="center" gridGap={8}>
        <Typography variant="subtitle2">Restore {restore.id.slice(0, 8)}</Typography>
        <StatusChip status={restore.phase} />
      </Box>
      <Stepper activeStep={step} alternativeLabel aria-label="Restore phases">
        {STEPS.map((name, index) => (
          <Step key={name} completed={index < step} data-step={name}>
            <StepLabel error={ended && index === step}>{STEP_LABELS[name]}</StepLabel>
          </Step>
        ))}
      </Stepper>
      {bytes && (
        <Box mb={2}>
          <LinearProgress
            aria-label="Restore progress"
            aria-valuetext={bytes}
            variant={percent !== undefined ? 'determinate' : 'indeterminate'}
            value={percent}
          />
          <Typography variant="body2" role="status">
            {bytes}
          </Typography>
        </Box>
      )}
      {restore.entries !== null && (
        <Typography variant="body2" data-testid="restore-scan">
          The archive holds {restore.entries} {restore.entries === 1 ? 'entry' : 'entries'}
          {restore.uncompressedBytes !== null
            ? `, ${formatBytes(restore.uncompressedBytes)} uncompressed`
            : ''}
          .
        </Typography>
      )}
      {restore.checks.length > 0 && (
        <List dense aria-label="Restore checks">
          {restore.checks.map(check => (
            <ListItem key={check.name} data-check={check.name} data-ok={String(check.ok)}>
              <ListItemIcon>
                {check.ok ? (
                  <CheckCircleIcon color="primary" titleAccess="passed" />
                ) : (
                  <ErrorIcon color="error" titleAccess="failed" />
                )}
              </ListItemIcon>
              <ListItemText
                primary={check.name}
                secondary={check.message}
                // Checksums and paths are long words.
                secondaryTypographyProps={{ style: { overflowWrap: 'anywhere' } }}
              />
            </ListItem>
          ))}
        </List>
      )}
      {ended && (
        <Alert severity={restore.phase === 'failed' ? 'error' : 'warning'} data-testid="restore-error">
          {ENDINGS[restore.phase]}
          {restore.error ? `: ${restore.error}` : '.'}
          {restore.target.type === 'existingPvc' && restore.target.allowDirectExtraction
            ? ' Direct extraction was allowed, so the volume may hold part of the archive.'
            : ''}
        </Alert>
      )}
      {restore.phase === 'succeeded' && (
        <Alert severity="success" data-testid="restore-done">
          Restored {restore.entries ?? ''} {restore.entries === 1 ? 'entry' : 'entries'} into{' '}
          <strong data-testid="restored-pvc">{target ? pvcText(target) : 'the target PVC'}</strong>.
          {restore.entityRef && (
            <>
              {' '}It belongs to the entity <EntityRefLink entityRef={restore.entityRef} />
            </>
          )}
          {restore.safetyBackupRunId && (
            <> A safety backup of the volume as it was is run {restore.safetyBackupRunId}.</>
          )}
        </Alert>
      )}
    </Box>
  );
};
