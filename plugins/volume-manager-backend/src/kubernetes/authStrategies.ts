/*
 * The authentication strategies the plugin ships, implementing the AuthenticationStrategy
 * contract of @backstage/plugin-kubernetes-node. A host app adds others (aws, azure, google
 * service account) through volumeManagerAuthStrategyExtensionPoint.
 */
import { readFile } from 'node:fs/promises';
import type {
  AuthMetadata,
  AuthenticationStrategy,
  ClusterDetails,
  KubernetesCredential,
} from '@backstage/plugin-kubernetes-node';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * `serviceAccount`: the token from the cluster's config, or else the backend pod's own mounted
 * service-account token (Backstage's in-cluster semantics).
 */
export class ServiceAccountStrategy implements AuthenticationStrategy {
  constructor(private readonly serviceAccountDir = SERVICE_ACCOUNT_DIR) {}

  async getCredential(cluster: ClusterDetails): Promise<KubernetesCredential> {
    const token =
      cluster.authMetadata.serviceAccountToken ??
      (await readFile(`${this.serviceAccountDir}/token`, 'utf8')).trim();
    return { type: 'bearer token', token };
  }

  validateCluster(): Error[] {
    return [];
  }

  presentAuthMetadata(): AuthMetadata {
    return {};
  }
}

/** `anonymous` and `localKubectlProxy`: no credentials (the proxy adds its own). */
export class AnonymousStrategy implements AuthenticationStrategy {
  async getCredential(): Promise<KubernetesCredential> {
    return { type: 'anonymous' };
  }

  validateCluster(): Error[] {
    return [];
  }

  presentAuthMetadata(): AuthMetadata {
    return {};
  }
}

export function builtInAuthStrategies(): Map<string, AuthenticationStrategy> {
  return new Map<string, AuthenticationStrategy>([
    ['serviceAccount', new ServiceAccountStrategy()],
    ['localKubectlProxy', new AnonymousStrategy()],
    ['anonymous', new AnonymousStrategy()],
  ]);
}
