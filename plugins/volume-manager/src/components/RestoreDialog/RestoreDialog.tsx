import { useRef, useState } from 'react';
import { ResponseErrorPanel } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import type {
  BackupItem,
  Restore,
  Volume,
} from '@nkvm/backstage-plugin-volume-manager-common';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import Checkbox from '@material-ui/core/Checkbox';
import Dialog from '@material-ui/core/Dialog';
import DialogActions from '@material-ui/core/DialogActions';
import DialogContent from '@material-ui/core/DialogContent';
import DialogTitle from '@material-ui/core/DialogTitle';
import FormControl from '@material-ui/core/FormControl';
import FormControlLabel from '@material-ui/core/FormControlLabel';
import FormLabel from '@material-ui/core/FormLabel';
import Radio from '@material-ui/core/Radio';
import RadioGroup from '@material-ui/core/RadioGroup';
import TextField from '@material-ui/core/TextField';
import Typography from '@material-ui/core/Typography';
import Alert from '@material-ui/lab/Alert';
import { errorMessage, volumeManagerApiRef } from '../../api';
import { isRestoreFinished } from '../StatusChip';
import {
  formatBytes,
  formatCapacity,
  formatExactTimestamp,
} from '../VolumesTable/format';
import {
  initialRestoreDraft,
  restoreDraftProblems,
  toRestoreRequest,
  type RestoreDraft,
} from './restoreRequest';
import { RestoreProgress } from './RestoreProgress';
import { useRestoreProgress } from './useRestoreProgress';

/** @internal */
export interface RestoreDialogProps {
  open: boolean;
  /** The succeeded backup to restore. */
  item: BackupItem;
  /** The PVC the backup was taken of: the default namespace, and the in-place target. */
  volume: Volume;
  /** Whether to offer "this PVC" (the user holds `volume-manager.restore.inPlace`). */
  allowInPlace: boolean;
  onClose(): void;
  /** Called when the backend accepted the restore (202). */
  onStarted?(restore: Restore): void;
  /** Called once when the restore ends, whatever the outcome. */
  onFinished?(restore: Restore): void;
}

/**
 * Restores one backup: first the target (a new PVC, or this PVC merged or replaced after typing
 * its name) and the file ownership, then the restore's live progress until it ends, with cancel.
 *
 * @internal
 */
export const RestoreDialog = ({
  open,
  item,
  volume,
  allowInPlace,
  onClose,
  onStarted,
  onFinished,
}: RestoreDialogProps) => {
  const api = useApi(volumeManagerApiRef);
  const [draft, setDraft] = useState<RestoreDraft>(() => initialRestoreDraft(volume));
  const [submitting, setSubmitting] = useState(false);
  // A second click before React re-renders the disabled button must not start a second restore.
  const submitted = useRef(false);
  const [createError, setCreateError] = useState<Error>();
  const [cancelling, setCancelling] = useState(false);
  const [cancelError, setCancelError] = useState<Error>();
  const progress = useRestoreProgress(api, onFinished);
  const { restore } = progress;

  const inPlace = draft.target === 'existingPvc' && allowInPlace;
  const effective: RestoreDraft = inPlace ? draft : { ...draft, target: 'newPvc' };
  const problems = restoreDraftProblems(effective, volume.name);
  const valid = Object.keys(problems).length === 0;
  const change = (patch: Partial<RestoreDraft>) => setDraft(d => ({ ...d, ...patch }));
  // Errors show once the user has typed something into that field.
  const shown = (field: keyof typeof problems, value: string) =>
    value !== '' ? problems[field] : undefined;

  const submit = async () => {
    if (submitted.current) return;
    submitted.current = true;
    setSubmitting(true);
    setCreateError(undefined);
    try {
      const created = await api.createRestore(toRestoreRequest(item, volume, effective));
      progress.track(created);
      onStarted?.(created);
    } catch (error) {
      submitted.current = false;
      setCreateError(error as Error);
    } finally {
      setSubmitting(false);
    }
  };

  const cancel = async () => {
    if (!restore) return;
    setCancelling(true);
    setCancelError(undefined);
    try {
      progress.update(await api.cancelRestore(restore.id));
    } catch (error) {
      setCancelError(error as Error);
    } finally {
      setCancelling(false);
    }
  };

  const running = restore !== undefined && !isRestoreFinished(restore.phase);
  const when = item.finishedAt ? formatExactTimestamp(item.finishedAt) : 'an unknown time';

  return (
    <Dialog
      open={open}
      onClose={submitting ? undefined : onClose}
      aria-labelledby="nkvm-restore-dialog-title"
      fullWidth
      maxWidth="md"
    >
      <DialogTitle id="nkvm-restore-dialog-title">
        Restore {volume.namespace}/{volume.name} from {when}
      </DialogTitle>
      <DialogContent>
        {restore ? (
          <>
            <RestoreProgress restore={restore} lastRunningPhase={progress.lastRunningPhase} />
            {progress.pollError && (
              <Typography variant="body2" color="textSecondary" role="alert">
                Could not refresh the progress ({errorMessage(progress.pollError)}); trying again.
              </Typography>
            )}
            {running && (
              <Typography variant="caption" color="textSecondary" component="p">
                Closing this dialog does not stop the restore: it stays listed under Restores on the admin page, and on this tab when its target PVC belongs to this entity.
              </Typography>
            )}
            {cancelError && (
              <ResponseErrorPanel error={cancelError} title="The restore could not be canceled" />
            )}
          </>
        ) : (
          <form
            aria-label="Restore target"
            // Only the Restore button starts it; Enter in a field does not.
            onSubmit={event => event.preventDefault()}
          >
            <Typography variant="body2" paragraph>
              The archive ({formatBytes(item.bytes)}, sha256{' '}
              <code>{item.sha256?.slice(0, 16) ?? 'unknown'}…</code>) is verified and its entries
              checked before anything is written. A helper pod then mounts the target PVC
              read-write and extracts it.
            </Typography>
            <FormControl component="fieldset" margin="dense">
              <FormLabel component="legend">Restore into</FormLabel>
              <RadioGroup
                row
                aria-label="Restore into"
                name="target"
                value={inPlace ? 'existingPvc' : 'newPvc'}
                onChange={e => change({ target: e.target.value as RestoreDraft['target'] })}
              >
                <FormControlLabel value="newPvc" control={<Radio />} label="A new PVC" />
                {allowInPlace && (
                  <FormControlLabel
                    value="existingPvc"
                    control={<Radio />}
                    label={`This PVC (${volume.name})`}
                  />
                )}
              </RadioGroup>
            </FormControl>

            {inPlace ? (
              <Box display="flex" flexDirection="column" gridGap={8}>
                <FormControl component="fieldset" margin="dense">
                  <FormLabel component="legend">Mode</FormLabel>
                  <RadioGroup
                    aria-label="Mode"
                    name="mode"
                    value={draft.mode}
                    onChange={e => change({ mode: e.target.value as RestoreDraft['mode'] })}
                  >
                    <FormControlLabel
                      value="merge"
                      control={<Radio />}
                      label="Merge: write the archive's files over what is there; other files stay"
                    />
                    <FormControlLabel
                      value="replace"
                      control={<Radio />}
                      label="Replace: empty the volume first, so it holds exactly the archive"
                    />
                  </RadioGroup>
                </FormControl>
                {draft.mode === 'replace' && (
                  <FormControlLabel
                    control={
                      <Checkbox
                        checked={draft.safetyBackup}
                        onChange={e => change({ safetyBackup: e.target.checked })}
                      />
                    }
                    label="Back up the volume as it is first (safety backup, to the same destination)"
                  />
                )}
                {draft.mode === 'replace' && !draft.safetyBackup && (
                  <Alert severity="warning">
                    Without a safety backup, what the volume holds now is gone once the restore
                    replaces it.
                  </Alert>
                )}
                <FormControlLabel
                  control={
                    <Checkbox
                      checked={draft.allowDirectExtraction}
                      onChange={e => change({ allowDirectExtraction: e.target.checked })}
                    />
                  }
                  label="If the volume lacks the room to stage the archive, extract straight into it (a failure then leaves it partly restored)"
                />
                <Alert severity="info">
                  The backend refuses while any running pod mounts {volume.name}: scale its
                  workload ({volume.owner ? `${volume.owner.kind}/${volume.owner.name}` : 'none found'})
                  down first.
                </Alert>
                <TextField
                  id="nkvm-restore-confirm"
                  label={`Type ${volume.name} to confirm`}
                  value={draft.confirm}
                  onChange={e => change({ confirm: e.target.value })}
                  error={Boolean(shown('confirm', draft.confirm))}
                  helperText={
                    shown('confirm', draft.confirm) ??
                    `This overwrites files in ${volume.namespace}/${volume.name}.`
                  }
                  autoComplete="off"
                  variant="outlined"
                  size="small"
                  fullWidth
                />
              </Box>
            ) : (
              <Box display="flex" flexWrap="wrap" gridGap={16} mt={1}>
                <TextField
                  id="nkvm-restore-name"
                  label="New PVC name"
                  placeholder={`${volume.name}-restore-…`}
                  InputLabelProps={{ shrink: true }}
                  value={draft.name}
                  onChange={e => change({ name: e.target.value })}
                  error={Boolean(shown('name', draft.name))}
                  helperText={
                    shown('name', draft.name) ??
                    `Empty: ${volume.name}-restore- and a short id`
                  }
                  variant="outlined"
                  size="small"
                  style={{ flex: '1 1 360px' }}
                />
                <TextField
                  id="nkvm-restore-namespace"
                  label="Namespace"
                  value={draft.namespace}
                  onChange={e => change({ namespace: e.target.value })}
                  error={Boolean(problems.namespace)}
                  helperText={problems.namespace ?? `On cluster ${volume.cluster}`}
                  variant="outlined"
                  size="small"
                />
                <TextField
                  id="nkvm-restore-size"
                  label="Size"
                  placeholder={formatCapacity(volume)}
                  InputLabelProps={{ shrink: true }}
                  value={draft.size}
                  onChange={e => change({ size: e.target.value })}
                  error={Boolean(shown('size', draft.size))}
                  helperText={
                    shown('size', draft.size) ??
                    "Empty: the source PVC's size (never below the archive's content)"
                  }
                  variant="outlined"
                  size="small"
                />
                <Typography variant="caption" color="textSecondary" component="p">
                  A new PVC belongs to the catalog entity that would claim a PVC of that name
                  there: for a StatefulSet's volumes, a name like{' '}
                  <code>&lt;template&gt;-&lt;statefulset&gt;-&lt;n&gt;</code>. The backend
                  refuses names no entity you may restore into would claim, unless the policy
                  lets you restore anywhere (administrators in the demo).
                </Typography>
              </Box>
            )}

            <FormControl component="fieldset" margin="dense">
              <FormLabel component="legend">File ownership</FormLabel>
              <RadioGroup
                aria-label="File ownership"
                name="ownership"
                value={draft.ownership}
                onChange={e => change({ ownership: e.target.value as RestoreDraft['ownership'] })}
              >
                <FormControlLabel
                  value="preserve"
                  control={<Radio />}
                  label="Preserve the numeric owners and modes of the backup"
                />
                <FormControlLabel
                  value="workload"
                  control={<Radio />}
                  label="As the workload's user and group (for namespaces that refuse root pods)"
                />
              </RadioGroup>
            </FormControl>
            {createError && (
              <Box data-testid="restore-start-error">
                <ResponseErrorPanel error={createError} title="The restore could not be started" />
              </Box>
            )}
          </form>
        )}
      </DialogContent>
      <DialogActions>
        {restore ? (
          <>
            {running && (
              <Button onClick={cancel} disabled={cancelling} aria-label="Cancel the restore">
                {cancelling ? 'Canceling…' : 'Cancel restore'}
              </Button>
            )}
            <Button onClick={onClose} color="primary">
              Close
            </Button>
          </>
        ) : (
          <>
            <Button onClick={onClose} disabled={submitting}>
              Cancel
            </Button>
            <Button
              onClick={submit}
              color="primary"
              variant="contained"
              disabled={!valid || submitting}
            >
              {submitting ? 'Starting…' : 'Restore'}
            </Button>
          </>
        )}
      </DialogActions>
    </Dialog>
  );
};
