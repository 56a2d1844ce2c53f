import type { Entity } from '@backstage/catalog-model';
import { CodeSnippet } from '@backstage/core-components';
import {
  ANNOTATION_KUBERNETES_ID,
  ANNOTATION_KUBERNETES_LABEL_SELECTOR,
  ANNOTATION_KUBERNETES_NAMESPACE,
} from '@nkvm/backstage-plugin-volume-manager-common';
import Box from '@material-ui/core/Box';
import Typography from '@material-ui/core/Typography';

/** @internal */
export interface KubernetesAnnotationsHelpProps {
  entity: Entity;
}

const example = (name: string) => `metadata:
  annotations:
    # pods labelled backstage.io/kubernetes-id=${name}
    ${ANNOTATION_KUBERNETES_ID}: ${name}
    # or instead, a label selector:
    # ${ANNOTATION_KUBERNETES_LABEL_SELECTOR}: app=${name}
    # optional: only these namespaces
    ${ANNOTATION_KUBERNETES_NAMESPACE}: my-namespace`;

function describeMatch(entity: Entity): string {
  const annotations = entity.metadata.annotations ?? {};
  const selector = annotations[ANNOTATION_KUBERNETES_LABEL_SELECTOR];
  const id = annotations[ANNOTATION_KUBERNETES_ID];
  const namespace = annotations[ANNOTATION_KUBERNETES_NAMESPACE];
  let match: string;
  if (selector) {
    match = `pods matching the label selector "${selector}"`;
  } else if (id) {
    match = `pods labelled ${ANNOTATION_KUBERNETES_ID}=${id}`;
  } else {
    return `This entity has neither the ${ANNOTATION_KUBERNETES_ID} nor the ${ANNOTATION_KUBERNETES_LABEL_SELECTOR} annotation, so no workload is matched to it.`;
  }
  const where = namespace
    ? `in the namespace "${namespace}"`
    : 'in every namespace the backend may read';
  return `This entity is matched to ${match}, ${where}.`;
}

/**
 * Explains how Kubernetes annotations map a catalog entity to its workloads and PVCs, with the
 * current entity's own mapping and an example.
 *
 * @internal
 */
export const KubernetesAnnotationsHelp = ({
  entity,
}: KubernetesAnnotationsHelpProps) => (
  <Box maxWidth={720}>
    <Typography variant="body1" paragraph>
      {describeMatch(entity)}
    </Typography>
    <Typography variant="body2" paragraph>
      An entity's volumes are the PersistentVolumeClaims mounted by its matching
      pods, the claims that carry the label themselves, and the
      volumeClaimTemplates of its StatefulSets. The annotations have the same
      meaning as in Backstage's Kubernetes plugin:
    </Typography>
    <CodeSnippet
      text={example(entity.metadata.name)}
      language="yaml"
      showCopyCodeButton
    />
  </Box>
);
