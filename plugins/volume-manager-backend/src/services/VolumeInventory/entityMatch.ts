import {
  DEFAULT_NAMESPACE,
  parseEntityRef,
  stringifyEntityRef,
  type Entity,
} from '@backstage/catalog-model';
import {
  ANNOTATION_KUBERNETES_ID,
  ANNOTATION_KUBERNETES_LABEL_SELECTOR,
  ANNOTATION_KUBERNETES_NAMESPACE,
} from '@nkvm/backstage-plugin-volume-manager-common';
import { parseLabelSelector, type LabelMatcher } from './labelSelector';

/**
 * How a catalog entity finds its workloads, with the semantics of Backstage's Kubernetes plugin:
 * the `backstage.io/kubernetes-label-selector` annotation, or else
 * `backstage.io/kubernetes-id=<annotation or entity name>`, restricted to the namespace in
 * `backstage.io/kubernetes-namespace` when it is set.
 */
export interface EntityMatcher {
  entityRef: string;
  labelSelector: string;
  namespace?: string;
  matches: LabelMatcher;
  /**
   * The entity's `spec.owner` as a full, lower-case ref (see normalizeOwnerRef), when it has a
   * valid one. Checked against a namespace's owner binding.
   */
  ownerRef?: string;
}

/**
 * A full entity ref in lower case, for comparing owners: `team-a` with the defaults
 * `group`/`default` is `group:default/team-a`. Backstage compares refs case-insensitively.
 * Undefined when the text is not a valid ref.
 */
export function normalizeOwnerRef(
  ref: string,
  defaults: { defaultKind: string; defaultNamespace: string },
): string | undefined {
  try {
    return stringifyEntityRef(parseEntityRef(ref.trim(), defaults)).toLocaleLowerCase('en-US');
  } catch {
    return undefined;
  }
}

/**
 * The owner of an entity as Backstage's catalog resolves `spec.owner`: a bare name is a Group in
 * the entity's own namespace.
 */
function ownerRefOf(entity: Entity): string | undefined {
  const owner = (entity.spec as { owner?: unknown } | undefined)?.owner;
  if (typeof owner !== 'string' || !owner.trim()) return undefined;
  return normalizeOwnerRef(owner, {
    defaultKind: 'group',
    defaultNamespace: entity.metadata.namespace ?? DEFAULT_NAMESPACE,
  });
}

export function isKubernetesAnnotated(entity: Entity): boolean {
  const annotations = entity.metadata.annotations ?? {};
  return Boolean(
    annotations[ANNOTATION_KUBERNETES_LABEL_SELECTOR]?.trim() ||
      annotations[ANNOTATION_KUBERNETES_ID]?.trim(),
  );
}

/**
 * Like Backstage's Kubernetes plugin, an entity without annotations is matched by
 * `backstage.io/kubernetes-id=<entity name>`. Throws on a label selector the API server would
 * reject.
 */
export function entityMatcher(entity: Entity): EntityMatcher {
  const annotations = entity.metadata.annotations ?? {};
  const selectorAnnotation = annotations[ANNOTATION_KUBERNETES_LABEL_SELECTOR]?.trim();
  const id = annotations[ANNOTATION_KUBERNETES_ID]?.trim();
  const labelSelector = selectorAnnotation || `${ANNOTATION_KUBERNETES_ID}=${id || entity.metadata.name}`;
  return {
    entityRef: stringifyEntityRef(entity),
    labelSelector,
    namespace: annotations[ANNOTATION_KUBERNETES_NAMESPACE]?.trim() || undefined,
    matches: parseLabelSelector(labelSelector),
    ownerRef: ownerRefOf(entity),
  };
}
