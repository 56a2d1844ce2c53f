/*
 * ClusterRegistry: cluster name -> a client for that cluster.
 *
 * Sources, in this order (a name may appear once):
 * 1. Backstage's `kubernetes.clusterLocatorMethods` (config, localKubectlProxy), resolved through
 *    AuthenticationStrategy objects, the built-in ones plus any a module registered;
 * 2. `volumeManager.clusters[]`: the backend pod's in-cluster identity, or a kubeconfig file;
 * 3. sessions: kubeconfigs pasted by a user, held in memory only, visible to that user only,
 *    and forgotten after SESSION_TTL_MS.
 */
import { ConflictError, InputError } from '@backstage/errors';
import type { LoggerService } from '@backstage/backend-plugin-api';
import type { AuthenticationStrategy, ClusterDetails } from '@backstage/plugin-kubernetes-node';
import { ANNOTATION_KUBERNETES_AUTH_PROVIDER } from '@backstage/plugin-kubernetes-common';
import type {
  AuthMode,
  ClusterSource,
  ClusterSummary,
} from '@nkvm/backstage-plugin-volume-manager-common';
import type { VolumeManagerConfig } from '../../config/readVolumeManagerConfig';
import { createClusterClient, type ClusterClient } from '../../kubernetes/ClusterClient';
import {
  inClusterKubeConfig,
  kubeConfigFromClusterDetails,
  kubeConfigFromFile,
  kubeConfigFromString,
} from '../../kubernetes/kubeConfigs';
import { validatePastedKubeconfig } from './validatePastedKubeconfig';

/** Pasted kubeconfigs are forgotten after this long. */
export const SESSION_TTL_MS = 30 * 60 * 1000;
/** Clients of configured clusters are rebuilt this often, so rotated credentials are picked up. */
const CLIENT_TTL_MS = 5 * 60 * 1000;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

interface ConfiguredEntry {
  summary: ClusterSummary;
  createClient(): Promise<ClusterClient>;
}

interface SessionEntry {
  summary: ClusterSummary;
  owner: string;
  client: ClusterClient;
  expiresAt: number;
}

export interface CreateSessionInput {
  name: string;
  kubeconfig: string;
  context?: string;
}

export interface ClusterRegistry {
  /** Configured clusters, plus the sessions of `userRef`. */
  listClusters(userRef?: string): ClusterSummary[];
  /** Throws InputError for a name that is not a configured cluster or one of the user's sessions. */
  getClient(name: string, userRef?: string): Promise<ClusterClient>;
  /** Names of every cluster an unscoped inventory covers for `userRef`. */
  clusterNames(userRef?: string): string[];
  /**
   * Every cluster this replica can reach, for housekeeping (the helper-pod janitor): the
   * configured ones, and every user's live pasted sessions with the user to pass to getClient.
   */
  housekeepingTargets(): Array<{ name: string; userRef?: string }>;
  createSession(userRef: string, input: CreateSessionInput): ClusterSummary;
  /** The auth modes the UI offers, the configured default first. */
  authModes(): AuthMode[];
}

function authProviderOf(cluster: ClusterDetails): string {
  return cluster.authMetadata[ANNOTATION_KUBERNETES_AUTH_PROVIDER] ?? '';
}

export function createClusterRegistry(options: {
  config: VolumeManagerConfig;
  authStrategies: ReadonlyMap<string, AuthenticationStrategy>;
  logger: LoggerService;
  now?: () => number;
}): ClusterRegistry {
  const { config, authStrategies, logger } = options;
  const clientOptions = { requestTimeoutMs: config.kubernetes.requestTimeoutMs };
  const now = options.now ?? Date.now;
  const configured = new Map<string, ConfiguredEntry>();
  const sessions = new Map<string, SessionEntry>();

  const add = (name: string, entry: ConfiguredEntry) => {
    if (configured.has(name)) {
      throw new Error(`Cluster '${name}' is configured twice; cluster names must be unique`);
    }
    configured.set(name, entry);
  };

  for (const cluster of config.kubernetesClusters) {
    const provider = authProviderOf(cluster);
    const strategy = authStrategies.get(provider);
    if (!strategy) {
      throw new Error(
        `Cluster '${cluster.name}' uses authProvider '${provider}', which has no auth strategy. ` +
          `Built in: serviceAccount, localKubectlProxy, anonymous; register others with ` +
          `volumeManagerAuthStrategyExtensionPoint.`,
      );
    }
    const problems = strategy.validateCluster(cluster.authMetadata);
    if (problems.length > 0) {
      throw new Error(
        `Cluster '${cluster.name}' is misconfigured: ${problems.map(p => p.message).join('; ')}`,
      );
    }
    const source: ClusterSource =
      provider === 'localKubectlProxy' ? 'local-kubectl-proxy' : 'kubernetes-config';
    add(cluster.name, {
      summary: { name: cluster.name, title: cluster.title, source, authProvider: provider },
      createClient: async () =>
        createClusterClient(
          cluster.name,
          await kubeConfigFromClusterDetails(cluster, strategy),
          clientOptions,
        ),
    });
  }
  for (const cluster of config.clusters) {
    if ('inCluster' in cluster) {
      add(cluster.name, {
        summary: { name: cluster.name, source: 'in-cluster', authProvider: 'serviceAccount' },
        createClient: async () =>
          createClusterClient(cluster.name, inClusterKubeConfig(), clientOptions),
      });
    } else {
      add(cluster.name, {
        summary: { name: cluster.name, source: 'kubeconfig' },
        createClient: async () =>
          createClusterClient(
            cluster.name,
            kubeConfigFromFile(cluster.kubeconfigPath, cluster.context),
            clientOptions,
          ),
      });
    }
  }
  if (config.unsupportedLocatorMethods.length > 0) {
    logger.warn(
      `kubernetes.clusterLocatorMethods of type ${config.unsupportedLocatorMethods.join(', ')} ` +
        `are not used by volume-manager; list those clusters under volumeManager.clusters`,
    );
  }

  const clients = new Map<string, { client: Promise<ClusterClient>; expiresAt: number }>();

  const liveSession = (name: string, userRef?: string): SessionEntry | undefined => {
    const session = sessions.get(name);
    if (!session) return undefined;
    if (session.expiresAt <= now()) {
      sessions.delete(name);
      return undefined;
    }
    return session.owner === userRef ? session : undefined;
  };

  return {
    listClusters(userRef) {
      const result = [...configured.values()].map(e => e.summary);
      for (const name of sessions.keys()) {
        const session = liveSession(name, userRef);
        if (session) result.push(session.summary);
      }
      return result;
    },

    clusterNames(userRef) {
      return this.listClusters(userRef).map(c => c.name);
    },

    housekeepingTargets() {
      const targets: Array<{ name: string; userRef?: string }> = [...configured.keys()].map(name => ({ name }));
      for (const [name, session] of sessions) {
        if (liveSession(name, session.owner)) targets.push({ name, userRef: session.owner });
      }
      return targets;
    },

    async getClient(name, userRef) {
      const session = liveSession(name, userRef);
      if (session) return session.client;
      const entry = configured.get(name);
      if (!entry) throw new InputError(`Unknown cluster '${name}'`);
      const cached = clients.get(name);
      if (cached && cached.expiresAt > now()) return cached.client;
      const client = entry.createClient();
      clients.set(name, { client, expiresAt: now() + CLIENT_TTL_MS });
      client.catch(() => clients.delete(name));
      return client;
    },

    createSession(userRef, input) {
      if (!DNS1123_LABEL.test(input.name) || input.name.length > 63) {
        throw new InputError(
          `Session cluster name '${input.name}' must be a DNS-1123 label (lowercase letters, digits and '-')`,
        );
      }
      if (configured.has(input.name)) {
        throw new ConflictError(`'${input.name}' is the name of a configured cluster`);
      }
      const existing = sessions.get(input.name);
      if (existing && existing.expiresAt > now() && existing.owner !== userRef) {
        throw new ConflictError(`Another user holds a session named '${input.name}'`);
      }
      const summary = validatePastedKubeconfig(input.kubeconfig);
      const context = input.context ?? summary.currentContext ?? summary.contexts[0];
      if (!context || !summary.contexts.includes(context)) {
        throw new InputError(
          `The pasted kubeconfig has no context '${context ?? ''}'; it has ${summary.contexts.join(', ') || 'none'}`,
        );
      }
      let client: ClusterClient;
      try {
        client = createClusterClient(
          input.name,
          kubeConfigFromString(input.kubeconfig, context),
          clientOptions,
        );
      } catch (error) {
        // The client's YAML parser quotes the offending line (maybe a token): never pass it on.
        const reason =
          (error as Error).name === 'YAMLException'
            ? 'the Kubernetes client cannot parse its YAML'
            : (error as Error).message;
        throw new InputError(`The pasted kubeconfig cannot be used: ${reason}`);
      }
      const expiresAt = now() + SESSION_TTL_MS;
      const entry: SessionEntry = {
        owner: userRef,
        client,
        expiresAt,
        summary: {
          name: input.name,
          source: 'session',
          expiresAt: new Date(expiresAt).toISOString(),
        },
      };
      sessions.set(input.name, entry);
      return entry.summary;
    },

    authModes() {
      const all: AuthMode[] = ['in-cluster', 'kubeconfig', 'paste'];
      const first = config.defaultAuthMode;
      return first ? [first, ...all.filter(m => m !== first)] : all;
    },
  };
}

