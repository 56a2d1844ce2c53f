/*
 * The platform's namespace -> owner binding (volumeManager.ownership): the owner named by a
 * Namespace's label, or bound to the namespace in config. Teams cannot change either from the
 * catalog, so an entity's claim on a PVC counts only when its owner agrees.
 */
import type { V1Namespace } from '@kubernetes/client-node';
import type { OwnershipBinding } from '../../config/readVolumeManagerConfig';
import { normalizeOwnerRef } from './entityMatch';

/**
 * The owner (a full, lower-case entity ref) bound to each namespace, or undefined for a namespace
 * with no binding. Config entries win over labels. A label value cannot hold `:` or `/`, so it is
 * an entity name completed with `defaultOwnerKind` and `defaultOwnerNamespace`.
 */
export function namespaceOwners(
  binding: OwnershipBinding,
  namespaces: V1Namespace[],
): (namespace: string) => string | undefined {
  const byName = new Map<string, string>();
  const label = binding.namespaceLabel;
  if (label) {
    for (const ns of namespaces) {
      const value = ns.metadata?.labels?.[label];
      if (!ns.metadata?.name || !value || /[:/]/.test(value)) continue;
      const ref = normalizeOwnerRef(value, {
        defaultKind: binding.defaultOwnerKind,
        defaultNamespace: binding.defaultOwnerNamespace,
      });
      if (ref) byName.set(ns.metadata.name, ref);
    }
  }
  for (const [namespace, ref] of Object.entries(binding.namespaces)) byName.set(namespace, ref);
  return namespace => byName.get(namespace);
}
