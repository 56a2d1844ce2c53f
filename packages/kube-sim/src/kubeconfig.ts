/** The kubeconfig kube-sim writes: contexts `kube-sim-admin` (current) and `kube-sim-restricted`. */
import { stringify } from 'yaml';

export interface KubeconfigInput {
  server: string;
  caCert?: string;
  adminToken: string;
  restrictedToken: string;
  restrictedNamespace?: string;
  clusterName?: string;
}

export function buildKubeconfig(i: KubeconfigInput): string {
  const clusterName = i.clusterName ?? 'kube-sim';
  const cluster: Record<string, unknown> = { server: i.server };
  if (i.caCert) cluster['certificate-authority-data'] = Buffer.from(i.caCert).toString('base64');
  const restrictedCtx: Record<string, unknown> = { cluster: clusterName, user: 'kube-sim-restricted' };
  if (i.restrictedNamespace) restrictedCtx.namespace = i.restrictedNamespace;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    clusters: [{ name: clusterName, cluster }],
    users: [
      { name: 'kube-sim-admin', user: { token: i.adminToken } },
      { name: 'kube-sim-restricted', user: { token: i.restrictedToken } },
    ],
    contexts: [
      { name: 'kube-sim-admin', context: { cluster: clusterName, user: 'kube-sim-admin' } },
      { name: 'kube-sim-restricted', context: restrictedCtx },
    ],
    'current-context': 'kube-sim-admin',
  });
}
