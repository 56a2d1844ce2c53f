import { stringifyEntityRef, type Entity } from '@backstage/catalog-model';
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
  };
}
