import type { V1Pod } from '@kubernetes/client-node';
import type { ClusterClient } from '../../kubernetes/ClusterClient';
import { eventsFor, getPod } from '../../kubernetes/pods';

/** Waiting reasons that will not fix themselves in the time a backup waits. */
const HOPELESS_WAITING_REASONS = new Set([
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageNeverPull',
  'CreateContainerConfigError',
  'CreateContainerError',
]);

export class HelperPodNotRunningError extends Error {
  readonly name = 'HelperPodNotRunningError';
}

function waitingReasons(pod: V1Pod): string[] {
  return (pod.status?.containerStatuses ?? []).flatMap(s =>
    s.state?.waiting?.reason
      ? [`${s.state.waiting.reason}${s.state.waiting.message ? `: ${s.state.waiting.message}` : ''}`]
      : [],
  );
}

/** The pod's own account of why it is not running: phase, failing conditions, events. */
async function explain(
  client: ClusterClient,
  pod: V1Pod,
  headline: string,
  signal?: AbortSignal,
): Promise<string> {
  const parts = [headline];
  const phase = pod.status?.phase ?? 'Unknown';
  parts.push(`phase ${phase}${pod.status?.reason ? ` (${pod.status.reason})` : ''}`);
  for (const c of pod.status?.conditions ?? []) {
    if (c.status !== 'True' && (c.reason || c.message)) {
      parts.push(`${c.type}=${c.status} ${c.reason ?? ''}${c.message ? `: ${c.message}` : ''}`.trim());
    }
  }
  parts.push(...waitingReasons(pod));
  try {
    const events = await eventsFor(client, pod.metadata!.namespace!, pod.metadata!.name!, signal);
    const interesting = events.filter(e => e.type === 'Warning').slice(-5);
    for (const e of interesting.length ? interesting : events.slice(-3)) {
      parts.push(`event ${e.reason}: ${e.message}`);
    }
  } catch {
    // Events are a courtesy; the phase and conditions already say what is wrong.
  }
  return parts.join('; ');
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/** Resolves with the running pod, or throws with the pod's own reason. */
export async function waitForHelperPod(
  client: ClusterClient,
  namespace: string,
  name: string,
  options: { timeoutMs: number; signal?: AbortSignal; maxPollMs?: number; purpose?: 'backup' | 'restore' },
): Promise<V1Pod> {
  const deadline = Date.now() + options.timeoutMs;
  // Start polling fast (a scheduled pod is often Running within a second), then back off.
  let pollMs = 50;
  for (;;) {
    const pod = await getPod(client, namespace, name, options.signal);
    const phase = pod.status?.phase;
    if (phase === 'Running') return pod;
    if (phase === 'Failed' || phase === 'Succeeded') {
      throw new HelperPodNotRunningError(
        await explain(client, pod, `Helper pod '${name}' ended before the ${options.purpose ?? 'backup'} could start`, options.signal),
      );
    }
    const hopeless = waitingReasons(pod).find(r => HOPELESS_WAITING_REASONS.has(r.split(':')[0]));
    if (hopeless) {
      throw new HelperPodNotRunningError(
        await explain(client, pod, `Helper pod '${name}' cannot start`, options.signal),
      );
    }
    if (Date.now() > deadline) {
      throw new HelperPodNotRunningError(
        await explain(
          client,
          pod,
          `Helper pod '${name}' was not Running after ${Math.round(options.timeoutMs / 1000)}s (helper.podTimeoutSeconds)`,
          options.signal,
        ),
      );
    }
    if (options.signal?.aborted) throw new HelperPodNotRunningError(`The ${options.purpose ?? 'backup'} was cancelled`);
    await sleep(pollMs);
    pollMs = Math.min(pollMs * 2, options.maxPollMs ?? 1000);
  }
}
