import type {
  BackupItem,
  CreateRestoreRequest,
  RestoreOwnership,
  Volume,
} from '@nkvm/backstage-plugin-volume-manager-common';
import {
  isDnsLabel,
  isDnsSubdomain,
  isStorageQuantity,
} from '../../kubernetesNames';

/** What the user has typed into the restore dialog so far. @internal */
export interface RestoreDraft {
  target: 'newPvc' | 'existingPvc';
  /** New PVC: empty means the backend's default, `<pvc>-restore-<short id>`. */
  name: string;
  namespace: string;
  /** New PVC: empty means the source PVC's size (never below the archive's content). */
  size: string;
  mode: 'merge' | 'replace';
  safetyBackup: boolean;
  /** In place: the PVC's name, typed again. */
  confirm: string;
  allowDirectExtraction: boolean;
  ownership: RestoreOwnership;
}

/** A new-PVC restore into the source PVC's namespace, keeping numeric owners. @internal */
export function initialRestoreDraft(volume: Pick<Volume, 'namespace'>): RestoreDraft {
  return {
    target: 'newPvc',
    name: '',
    namespace: volume.namespace,
    size: '',
    mode: 'merge',
    safetyBackup: true,
    confirm: '',
    allowDirectExtraction: false,
    ownership: 'preserve',
  };
}

/** The problem of each field that has one, keyed by field; empty when the draft can be sent. */
export type RestoreDraftProblems = Partial<Record<'name' | 'namespace' | 'size' | 'confirm', string>>;

/** @internal */
export function restoreDraftProblems(
  draft: RestoreDraft,
  pvc: string,
): RestoreDraftProblems {
  const problems: RestoreDraftProblems = {};
  if (draft.target === 'newPvc') {
    const name = draft.name.trim();
    const namespace = draft.namespace.trim();
    const size = draft.size.trim();
    if (name && !isDnsSubdomain(name)) {
      problems.name =
        'Lowercase letters, digits, "-" and ".", starting and ending with a letter or digit (at most 253)';
    }
    if (!namespace) {
      problems.namespace = 'Enter the namespace of the new PVC';
    } else if (!isDnsLabel(namespace)) {
      problems.namespace = 'Must be a DNS-1123 label (lowercase letters, digits and -, at most 63)';
    }
    if (size && !isStorageQuantity(size)) {
      problems.size = 'A Kubernetes quantity, for example 2Gi or 500Mi';
    }
  } else if (draft.confirm !== pvc) {
    problems.confirm = `Type ${pvc} to confirm`;
  }
  return problems;
}

/**
 * The body of `POST /restores` for a draft, restoring `item` (a succeeded backup of `volume`).
 * Optional fields left empty are left out, so the backend applies its defaults.
 *
 * @internal
 */
export function toRestoreRequest(
  item: Pick<BackupItem, 'id'>,
  volume: Pick<Volume, 'cluster' | 'namespace' | 'name'>,
  draft: RestoreDraft,
): CreateRestoreRequest {
  if (draft.target === 'newPvc') {
    const name = draft.name.trim();
    const size = draft.size.trim();
    return {
      itemId: item.id,
      target: {
        type: 'newPvc',
        cluster: volume.cluster,
        namespace: draft.namespace.trim(),
        ...(name ? { name } : {}),
        ...(size ? { size } : {}),
      },
      ownership: draft.ownership,
    };
  }
  return {
    itemId: item.id,
    target: {
      type: 'existingPvc',
      cluster: volume.cluster,
      namespace: volume.namespace,
      name: volume.name,
      mode: draft.mode,
      confirm: draft.confirm,
      // The backend takes a safety backup before `replace` only; say so explicitly either way.
      ...(draft.mode === 'replace' ? { safetyBackup: draft.safetyBackup } : {}),
      ...(draft.allowDirectExtraction ? { allowDirectExtraction: true } : {}),
    },
    ownership: draft.ownership,
  };
}
