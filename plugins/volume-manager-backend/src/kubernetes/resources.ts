/** The Kubernetes resources the plugin reads or writes, and where they live in the API. */
export const KUBERNETES_RESOURCES = {
  namespaces: { apiPath: '/api/v1', namespaced: false },
  nodes: { apiPath: '/api/v1', namespaced: false },
  persistentvolumes: { apiPath: '/api/v1', namespaced: false },
  persistentvolumeclaims: { apiPath: '/api/v1', namespaced: true },
  pods: { apiPath: '/api/v1', namespaced: true },
  events: { apiPath: '/api/v1', namespaced: true },
  replicasets: { apiPath: '/apis/apps/v1', namespaced: true },
  statefulsets: { apiPath: '/apis/apps/v1', namespaced: true },
  deployments: { apiPath: '/apis/apps/v1', namespaced: true },
  daemonsets: { apiPath: '/apis/apps/v1', namespaced: true },
  jobs: { apiPath: '/apis/batch/v1', namespaced: true },
  cronjobs: { apiPath: '/apis/batch/v1', namespaced: true },
} as const;

export type KubernetesResource = keyof typeof KUBERNETES_RESOURCES;

export function resourcePath(
  resource: KubernetesResource,
  namespace?: string,
  name?: string,
  subresource?: string,
): string {
  const { apiPath, namespaced } = KUBERNETES_RESOURCES[resource];
  let path = apiPath;
  if (namespaced && namespace) path += `/namespaces/${encodeURIComponent(namespace)}`;
  path += `/${resource}`;
  if (name) path += `/${encodeURIComponent(name)}`;
  if (subresource) path += `/${subresource}`;
  return path;
}
