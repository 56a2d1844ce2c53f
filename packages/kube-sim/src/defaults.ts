/** Defaulting and admission the real apiserver applies on create (the parts kube-sim models). */
import { randomBytes } from 'node:crypto';
import type { KObj } from './types';

function imagePullPolicy(image: string): string {
  const last = image.split('/').pop() ?? image;
  if (image.includes('@')) return 'IfNotPresent';
  if (!last.includes(':') || last.endsWith(':latest')) return 'Always';
  return 'IfNotPresent';
}

function defaultContainer(c: Record<string, unknown>): void {
  c.imagePullPolicy ??= imagePullPolicy(String(c.image ?? ''));
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  c.resources ??= {};
}

/** Pod defaults plus the ServiceAccount and DefaultTolerationSeconds admission plugins. */
export function defaultPod(pod: KObj, tokenVolumeSuffix?: string): void {
  const spec = (pod.spec ??= {});
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.securityContext ??= {};
  spec.schedulerName ??= 'default-scheduler';
  spec.serviceAccountName ??= spec.serviceAccount ?? 'default';
  spec.serviceAccount ??= spec.serviceAccountName;
  spec.enableServiceLinks ??= true;
  spec.preemptionPolicy ??= 'PreemptLowerPriority';
  spec.priority ??= 0;
  for (const c of spec.containers ?? []) defaultContainer(c);
  for (const c of spec.initContainers ?? []) defaultContainer(c);
  const tolerations: Array<Record<string, unknown>> = (spec.tolerations ??= []);
  for (const key of ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']) {
    if (!tolerations.some(t => t.key === key && (t.effect === 'NoExecute' || !t.effect))) {
      tolerations.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 });
    }
  }
  if (spec.automountServiceAccountToken !== false) {
    const volumes: Array<Record<string, unknown>> = (spec.volumes ??= []);
    if (!volumes.some(v => String(v.name).startsWith('kube-api-access-'))) {
      const name = `kube-api-access-${tokenVolumeSuffix ?? randomBytes(3).toString('hex').slice(0, 5)}`;
      volumes.push({
        name,
        projected: {
          defaultMode: 420,
          sources: [
            { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
            { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
            { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
          ],
        },
      });
      for (const c of spec.containers ?? []) {
        c.volumeMounts ??= [];
        c.volumeMounts.push({ name, readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' });
      }
    }
  }
  pod.status = { phase: 'Pending', qosClass: qosClass(spec) };
}

function qosClass(spec: KObj['spec']): string {
  const cs: Array<{ resources?: { requests?: Record<string, string>; limits?: Record<string, string> } }> = spec.containers ?? [];
  const any = cs.some(c => Object.keys(c.resources?.requests ?? {}).length || Object.keys(c.resources?.limits ?? {}).length);
  if (!any) return 'BestEffort';
  const guaranteed = cs.every(c => c.resources?.limits?.cpu && c.resources?.limits?.memory && (!c.resources.requests || (c.resources.requests.cpu ?? c.resources.limits.cpu) === c.resources.limits.cpu));
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

export function defaultPvc(pvc: KObj, defaultStorageClass: string | undefined): void {
  const spec = (pvc.spec ??= {});
  spec.volumeMode ??= 'Filesystem';
  if (spec.storageClassName === undefined && defaultStorageClass) spec.storageClassName = defaultStorageClass;
  pvc.status = { phase: 'Pending' };
}

export function defaultNamespace(ns: KObj): void {
  ns.metadata.labels = { ...(ns.metadata.labels ?? {}), 'kubernetes.io/metadata.name': ns.metadata.name! };
  ns.spec = { finalizers: ['kubernetes'] };
  ns.status = { phase: 'Active' };
}

/** Defaults for workload kinds kube-sim does not reconcile (status stays as given). */
export function defaultWorkload(o: KObj): void {
  o.metadata.generation ??= 1;
  if (o.kind === 'Deployment' || o.kind === 'StatefulSet' || o.kind === 'ReplicaSet') o.spec.replicas ??= 1;
  o.status ??= {};
}
