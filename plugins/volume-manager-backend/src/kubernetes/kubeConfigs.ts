/*
 * Turns each cluster source into a client-node KubeConfig: Backstage ClusterDetails plus a
 * credential, the backend pod's in-cluster config, a kubeconfig file, or a pasted kubeconfig.
 */
import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { ANNOTATION_KUBERNETES_AUTH_PROVIDER } from '@backstage/plugin-kubernetes-common';
import type {
  AuthenticationStrategy,
  ClusterDetails,
} from '@backstage/plugin-kubernetes-node';
import { SERVICE_ACCOUNT_DIR } from './authStrategies';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

export async function kubeConfigFromClusterDetails(
  cluster: ClusterDetails,
  strategy: AuthenticationStrategy,
  serviceAccountDir = SERVICE_ACCOUNT_DIR,
): Promise<KubeConfig> {
  const provider = cluster.authMetadata[ANNOTATION_KUBERNETES_AUTH_PROVIDER];
  if (
    provider === 'serviceAccount' &&
    !cluster.authMetadata.serviceAccountToken &&
    existsSync(`${serviceAccountDir}/ca.crt`)
  ) {
    // Backstage's semantics: no token but a mounted service-account CA means in-cluster.
    const kc = new KubeConfig();
    kc.loadFromCluster();
    return kc;
  }
  const credential = await strategy.getCredential(cluster, {});
  let user: { name: string; token?: string; certData?: string; keyData?: string } = {
    name: 'backstage',
  };
  if (credential.type === 'bearer token') {
    user = { name: 'backstage', token: credential.token };
  } else if (credential.type === 'x509 client certificate') {
    user = { name: 'backstage', certData: b64(credential.cert), keyData: b64(credential.key) };
  }
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: cluster.name,
        server: cluster.url,
        caData: cluster.caData,
        caFile: cluster.caFile,
        // client-node refuses http:// without this flag (localKubectlProxy is plain HTTP).
        skipTLSVerify: Boolean(cluster.skipTLSVerify) || cluster.url.startsWith('http:'),
      },
    ],
    users: [user],
    contexts: [{ name: 'backstage', cluster: cluster.name, user: 'backstage' }],
    currentContext: 'backstage',
  });
  return kc;
}

/** client-node refuses http:// servers unless skipTLSVerify is set; there is no TLS to verify. */
function allowPlainHttp(kc: KubeConfig): KubeConfig {
  if (!kc.clusters.some(c => c.server.startsWith('http:') && !c.skipTLSVerify)) return kc;
  kc.loadFromOptions({
    clusters: kc.clusters.map(c => (c.server.startsWith('http:') ? { ...c, skipTLSVerify: true } : c)),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return kc;
}

export function inClusterKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromCluster();
  return kc;
}

export function kubeConfigFromFile(path: string, context?: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  if (context) {
    if (!kc.getContextObject(context)) {
      throw new Error(`kubeconfig '${path}' has no context '${context}'`);
    }
    kc.setCurrentContext(context);
  }
  return allowPlainHttp(kc);
}

/** Loads a pasted kubeconfig that {@link validatePastedKubeconfig} has already accepted. */
export function kubeConfigFromString(text: string, context?: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(text);
  if (context) kc.setCurrentContext(context);
  return allowPlainHttp(kc);
}
