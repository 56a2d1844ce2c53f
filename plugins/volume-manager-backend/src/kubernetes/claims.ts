/** PersistentVolumeClaim calls of the restore path: read, create, delete. */
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { ClusterClient } from './ClusterClient';
import { KubernetesApiError } from './errors';
import { resourcePath } from './resources';

/** The claim, or undefined when it does not exist. */
export async function findClaim(
  client: ClusterClient,
  namespace: string,
  name: string,
  signal?: AbortSignal,
): Promise<V1PersistentVolumeClaim | undefined> {
  try {
    return await client.get<V1PersistentVolumeClaim>('persistentvolumeclaims', namespace, name, { signal });
  } catch (error) {
    if (error instanceof KubernetesApiError && error.clusterStatusCode === 404) return undefined;
    throw error;
  }
}

export async function createClaim(
  client: ClusterClient,
  claim: V1PersistentVolumeClaim,
  signal?: AbortSignal,
): Promise<V1PersistentVolumeClaim> {
  const namespace = claim.metadata!.namespace!;
  return client.request<V1PersistentVolumeClaim>(
    resourcePath('persistentvolumeclaims', namespace),
    { verb: 'create', resource: 'persistentvolumeclaims', namespace },
    { method: 'POST', body: claim, signal },
  );
}

/** Deletes a claim; one that is already gone counts as deleted. */
export async function deleteClaim(client: ClusterClient, namespace: string, name: string, signal?: AbortSignal) {
  try {
    await client.request(
      resourcePath('persistentvolumeclaims', namespace, name),
      { verb: 'delete', resource: 'persistentvolumeclaims', namespace, name },
      { method: 'DELETE', signal },
    );
  } catch (error) {
    if (error instanceof KubernetesApiError && error.clusterStatusCode === 404) return;
    throw error;
  }
}
