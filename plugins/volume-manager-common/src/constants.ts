/**
 * The Backstage plugin id. Routes are served under `/api/volume-manager`.
 *
 * @public
 */
export const VOLUME_MANAGER_PLUGIN_ID = 'volume-manager';

/**
 * Entity annotation with the Kubernetes label value matched as `backstage.io/kubernetes-id`.
 * Same semantics as Backstage's Kubernetes plugin.
 *
 * @public
 */
export const ANNOTATION_KUBERNETES_ID = 'backstage.io/kubernetes-id';

/**
 * Entity annotation with a full Kubernetes label selector. Takes precedence over
 * {@link ANNOTATION_KUBERNETES_ID}.
 *
 * @public
 */
export const ANNOTATION_KUBERNETES_LABEL_SELECTOR =
  'backstage.io/kubernetes-label-selector';

/**
 * Entity annotation restricting the namespace(s) searched for the entity's workloads.
 *
 * @public
 */
export const ANNOTATION_KUBERNETES_NAMESPACE = 'backstage.io/kubernetes-namespace';

/**
 * The label every helper pod carries, so that a janitor can find helpers no run owns.
 *
 * @public
 */
export const HELPER_POD_MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';

/**
 * Value of {@link HELPER_POD_MANAGED_BY_LABEL} on helper pods.
 *
 * @public
 */
export const HELPER_POD_MANAGED_BY_VALUE = 'nerdy-k8s-volume-manager';

/**
 * The id of the destination that is always present: the backend's local backup directory.
 *
 * @public
 */
export const LOCAL_DESTINATION_ID = 'local';
