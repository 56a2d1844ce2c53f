/**
 * Pod calls of the backup path: create, watch for Running, explain why not, delete. Each takes
 * the item's abort signal; the client's request timeout bounds each one in any case.
 */
import type { CoreV1Event, V1Node, V1Pod, V1PodList } from '@kubernetes/client-node';
import type { ClusterClient } from './ClusterClient';
import { KubernetesApiError } from './errors';
import { resourcePath } from './resources';

export async function createPod(client: ClusterClient, pod: V1Pod, signal?: AbortSignal): Promise<V1Pod> {
  const namespace = pod.metadata!.namespace!;
  return client.request<V1Pod>(
    resourcePath('pods', namespace),
    { verb: 'create', resource: 'pods', namespace },
    { method: 'POST', body: pod, signal },
  );
}

export async function getPod(
  client: ClusterClient,
  namespace: string,
  name: string,
  signal?: AbortSignal,
): Promise<V1Pod> {
  return client.get<V1Pod>('pods', namespace, name, { signal });
}

/** Deletes a pod at once; a pod that is already gone counts as deleted. */
export async function deletePod(client: ClusterClient, namespace: string, name: string, signal?: AbortSignal) {
  try {
    await client.request(
      resourcePath('pods', namespace, name),
      { verb: 'delete', resource: 'pods', namespace, name },
      { method: 'DELETE', query: { gracePeriodSeconds: 0 }, signal },
    );
  } catch (error) {
    if (error instanceof KubernetesApiError && error.clusterStatusCode === 404) return;
    throw error;
  }
}

export async function listPods(
  client: ClusterClient,
  options: { namespace?: string; labelSelector?: string; signal?: AbortSignal },
): Promise<V1Pod[]> {
  return client.list<V1Pod>('pods', options);
}

export async function getNode(client: ClusterClient, name: string, signal?: AbortSignal): Promise<V1Node> {
  return client.get<V1Node>('nodes', undefined, name, { signal });
}

/** Recent events about one object, oldest first. */
export async function eventsFor(
  client: ClusterClient,
  namespace: string,
  name: string,
  signal?: AbortSignal,
): Promise<CoreV1Event[]> {
  const events = await client.list<CoreV1Event>('events', {
    namespace,
    fieldSelector: `involvedObject.name=${name}`,
    signal,
  });
  return events.sort((a, b) =>
    String(a.lastTimestamp ?? a.eventTime ?? '').localeCompare(
      String(b.lastTimestamp ?? b.eventTime ?? ''),
    ),
  );
}

export type { V1Pod, V1PodList };
