import type { Config } from '@backstage/config';
import { InputError } from '@backstage/errors';
import type { AuthMode } from '@nkvm/backstage-plugin-volume-manager-common';
import {
  ANNOTATION_KUBERNETES_AUTH_PROVIDER,
  ANNOTATION_KUBERNETES_AWS_ASSUME_ROLE,
  ANNOTATION_KUBERNETES_AWS_EXTERNAL_ID,
  ANNOTATION_KUBERNETES_OIDC_TOKEN_PROVIDER,
} from '@backstage/plugin-kubernetes-common';
import type { AuthMetadata, ClusterDetails } from '@backstage/plugin-kubernetes-node';
import { parseHostAllowList, type HostAllowList } from '../services/ArchiveSinks/adHocHostPolicy';
import {
  normalizeRemoteDestination,
  type RemoteDestination,
  type RetryPolicy,
} from '../services/ArchiveSinks/remoteDestination';
import { normalizeOwnerRef } from '../services/VolumeInventory/entityMatch';

/** Defaults, named so the docs and the code cannot drift apart. */
export const DEFAULTS = {
  backupDir: './backups',
  helperImage: 'alpine:3.20',
  helperPodTimeoutSeconds: 120,
  helperActiveDeadlineSeconds: 6 * 60 * 60,
  discoveryTimeoutSeconds: 20,
  maxNamespaceScan: 100,
  concurrency: 3,
  restoreConcurrency: 1,
  maxVolumesPerRun: 50,
  leaseSeconds: 60,
  maxActivePerUser: 200,
  maxActivePerEntity: 100,
  inventoryCacheTtlSeconds: 10,
  remoteAttempts: 3,
  remoteInitialDelayMs: 1000,
  remoteMaxDelayMs: 30_000,
  remoteTimeoutSeconds: 30,
  remoteStallTimeoutSeconds: 120,
  kubernetesRequestTimeoutSeconds: 30,
} as const;

/** What `volumeManager.installationId` may be: it becomes a Kubernetes label value. */
export const INSTALLATION_ID_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

const AUTH_MODES: readonly AuthMode[] = ['in-cluster', 'kubeconfig', 'paste'];

export type DestinationType = 'ftp' | 'ftps' | 'scp' | 'rsync';

/** A configured remote destination, validated and normalized (secrets included). */
export type ConfiguredDestination = RemoteDestination;

export type ConfiguredCluster =
  | { name: string; inCluster: true }
  | { name: string; kubeconfigPath: string; context?: string };

/** The uid a helper uses when the workload sets none: root (0, no capabilities) or 65534. */
export type HelperSecurityMode = 'root' | 'nonroot';

/**
 * The platform's binding of namespaces to owners (`volumeManager.ownership`). When set, an
 * entity may claim a PVC only if its `spec.owner` is the owner bound to the PVC's namespace.
 */
export interface OwnershipBinding {
  /** The Namespace label whose value names the owner, e.g. `volume-manager.nkvm.io/owner`. */
  namespaceLabel?: string;
  /** Kind and namespace that complete a label value (`team-a` -> `group:default/team-a`). */
  defaultOwnerKind: string;
  defaultOwnerNamespace: string;
  /** namespace -> owner ref (full, lower case) from config; wins over the label. */
  namespaces: Record<string, string>;
}

export interface VolumeManagerConfig {
  backupDir: string;
  helper: {
    image: string;
    podTimeoutSeconds: number;
    activeDeadlineSeconds: number;
    defaultSecurityMode: HelperSecurityMode;
    /** Namespaces whose helpers run as root with DAC_READ_SEARCH (opt-in; baseline refuses it). */
    readAllNamespaces: string[];
  };
  discovery: {
    timeoutSeconds: number;
    maxNamespaceScan: number;
    /** Seconds a cluster's listed objects serve `GET /volumes`; 0 turns the cache off. */
    cacheTtlSeconds: number;
  };
  defaultAuthMode?: AuthMode;
  allowedNamespaces?: string[];
  concurrency: number;
  /** Restores that run at once on one backend replica (`volumeManager.restore.concurrency`). */
  restore: { concurrency: number };
  maxVolumesPerRun: number;
  /** How long a replica's claim on a running item lasts without renewal. */
  leaseSeconds: number;
  /** Fair sharing: most unfinished (queued or running) items per requester and per entity. */
  queue: { maxActivePerUser: number; maxActivePerEntity: number };
  /**
   * Subjects of Backstage service principals (e.g. `ci-backups`) that may call the
   * automation routes. Empty: no service principal may.
   */
  automationSubjects: string[];
  allowAdHocDestinations: boolean;
  /**
   * Absolute directories an ad-hoc destination's `remoteDir` may name (at or below); relative
   * directories (below the login directory) are always allowed.
   */
  adHocRemoteRoots: string[];
  /**
   * The only hosts and networks one-off destinations may reach; unset: public addresses only
   * (see adHocHostPolicy.ts).
   */
  adHocAllowedHosts?: HostAllowList;
  /**
   * Retries, backoff and timeouts of remote transfers; `stallTimeoutMs` fails an upload whose
   * destination accepted no bytes for that long while the helper's output waited for it.
   */
  remoteTransfer: RetryPolicy & { stallTimeoutMs: number };
  /** Kubernetes API calls: each request (and the exec handshake) fails after this long. */
  kubernetes: { requestTimeoutMs: number };
  /**
   * Labels the helper pods of this installation, so the janitor deletes only its own. Undefined:
   * the id generated once and stored in the plugin database is used.
   */
  installationId?: string;
  clusters: ConfiguredCluster[];
  /** Clusters from Backstage's own `kubernetes.clusterLocatorMethods` (config, localKubectlProxy). */
  kubernetesClusters: ClusterDetails[];
  /** Locator methods we cannot use (catalog, gke), so the plugin can say so once at start-up. */
  unsupportedLocatorMethods: string[];
  destinations: ConfiguredDestination[];
  /** Unset when the platform binds no namespaces to owners. */
  ownership?: OwnershipBinding;
}

type Env = Record<string, string | undefined>;

function positiveInt(value: number | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value <= 0) {
    throw new InputError(`${what} must be a positive integer, got '${value}'`);
  }
  return value;
}

function nonNegativeInt(value: number | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 0) {
    throw new InputError(`${what} must be an integer of 0 or more, got '${value}'`);
  }
  return value;
}

function envInt(env: Env, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    throw new InputError(`${name} must be a positive integer, got '${raw}'`);
  }
  return value;
}

function envString(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw ? raw : undefined;
}

function readAuthMode(config: Config, env: Env): AuthMode | undefined {
  const raw =
    config.getOptionalString('volumeManager.defaultAuthMode') ??
    envString(env, 'NKVM_DEFAULT_AUTH_MODE');
  if (raw === undefined) return undefined;
  if (!AUTH_MODES.includes(raw as AuthMode)) {
    throw new InputError(
      `volumeManager.defaultAuthMode / NKVM_DEFAULT_AUTH_MODE must be one of ${AUTH_MODES.join(', ')}, got '${raw}'`,
    );
  }
  return raw as AuthMode;
}

function readClusters(config: Config): ConfiguredCluster[] {
  return (config.getOptionalConfigArray('volumeManager.clusters') ?? []).map(c => {
    const name = c.getString('name');
    if (c.getOptionalBoolean('inCluster')) return { name, inCluster: true as const };
    const kubeconfigPath = c.getOptionalString('kubeconfigPath');
    if (!kubeconfigPath) {
      throw new InputError(
        `volumeManager.clusters '${name}' needs either inCluster: true or kubeconfigPath`,
      );
    }
    return { name, kubeconfigPath, context: c.getOptionalString('context') };
  });
}

/**
 * Reads `kubernetes.clusterLocatorMethods` the way Backstage's Kubernetes backend does for the
 * `config` and `localKubectlProxy` methods.
 */
function readKubernetesClusters(config: Config): {
  clusters: ClusterDetails[];
  unsupported: string[];
} {
  const clusters: ClusterDetails[] = [];
  const unsupported: string[] = [];
  for (const method of config.getOptionalConfigArray('kubernetes.clusterLocatorMethods') ?? []) {
    const type = method.getString('type');
    if (type === 'localKubectlProxy') {
      clusters.push({
        name: 'local',
        url: 'http://127.0.0.1:8001',
        authMetadata: { [ANNOTATION_KUBERNETES_AUTH_PROVIDER]: 'localKubectlProxy' },
        skipMetricsLookup: true,
      });
    } else if (type === 'config') {
      for (const c of method.getOptionalConfigArray('clusters') ?? []) {
        const block = c.getOptional<AuthMetadata>('authMetadata') ?? {};
        const optional = (key: string) => c.getOptionalString(key);
        const authMetadata: AuthMetadata = {
          [ANNOTATION_KUBERNETES_AUTH_PROVIDER]:
            block[ANNOTATION_KUBERNETES_AUTH_PROVIDER] ?? c.getString('authProvider'),
          ...block,
        };
        const extra: Array<[string, string | undefined]> = [
          ['serviceAccountToken', optional('serviceAccountToken')],
          [ANNOTATION_KUBERNETES_AWS_ASSUME_ROLE, optional('assumeRole')],
          [ANNOTATION_KUBERNETES_AWS_EXTERNAL_ID, optional('externalId')],
          [ANNOTATION_KUBERNETES_OIDC_TOKEN_PROVIDER, optional('oidcTokenProvider')],
        ];
        for (const [key, value] of extra) if (value) authMetadata[key] = value;
        clusters.push({
          name: c.getString('name'),
          title: optional('title'),
          url: c.getString('url'),
          skipTLSVerify: c.getOptionalBoolean('skipTLSVerify') ?? false,
          caData: optional('caData'),
          caFile: optional('caFile'),
          authMetadata,
        });
      }
    } else {
      unsupported.push(type);
    }
  }
  return { clusters, unsupported };
}

function readDestinations(config: Config): ConfiguredDestination[] {
  const seen = new Set<string>(['local']);
  return (config.getOptionalConfigArray('volumeManager.destinations') ?? []).map(d => {
    const id = d.getString('id');
    if (seen.has(id) || id.startsWith('adhoc:')) {
      throw new InputError(`volumeManager.destinations: duplicate or reserved id '${id}'`);
    }
    seen.add(id);
    const tls = d.getOptionalConfig('tls');
    return normalizeRemoteDestination(
      {
        type: d.getString('type') as ConfiguredDestination['type'],
        host: d.getString('host'),
        port: d.getOptionalNumber('port'),
        username: d.getString('username'),
        password: d.getOptionalString('password'),
        privateKey: d.getOptionalString('privateKey'),
        remoteDir: d.getString('remoteDir'),
        tls: tls
          ? {
              ca: tls.getOptionalString('ca'),
              rejectUnauthorized: tls.getOptionalBoolean('rejectUnauthorized'),
              implicit: tls.getOptionalBoolean('implicit'),
            }
          : undefined,
        hostKeySha256: d.getOptionalString('hostKeySha256'),
        keepLocalCopy: d.getOptionalBoolean('keepLocalCopy'),
      },
      { id, what: `volumeManager.destinations '${id}'` },
    );
  });
}

function readRemoteTransfer(config: Config): VolumeManagerConfig['remoteTransfer'] {
  const n = (key: string) => config.getOptionalNumber(`volumeManager.remoteTransfer.${key}`);
  const what = (key: string) => `volumeManager.remoteTransfer.${key}`;
  return {
    attempts: positiveInt(n('attempts'), what('attempts')) ?? DEFAULTS.remoteAttempts,
    initialDelayMs:
      positiveInt(n('initialDelayMs'), what('initialDelayMs')) ?? DEFAULTS.remoteInitialDelayMs,
    maxDelayMs: positiveInt(n('maxDelayMs'), what('maxDelayMs')) ?? DEFAULTS.remoteMaxDelayMs,
    timeoutMs:
      (positiveInt(n('timeoutSeconds'), what('timeoutSeconds')) ?? DEFAULTS.remoteTimeoutSeconds) *
      1000,
    stallTimeoutMs:
      (positiveInt(n('stallTimeoutSeconds'), what('stallTimeoutSeconds')) ??
        DEFAULTS.remoteStallTimeoutSeconds) * 1000,
  };
}

function readInstallationId(config: Config): string | undefined {
  const id = config.getOptionalString('volumeManager.installationId');
  if (id !== undefined && !INSTALLATION_ID_PATTERN.test(id)) {
    throw new InputError(
      `volumeManager.installationId must be a Kubernetes label value (1 to 63 letters, digits, '.', '_' or '-', starting and ending with a letter or digit), got '${id}'`,
    );
  }
  return id;
}

function readAdHocRemoteRoots(config: Config): string[] {
  const roots = config.getOptionalStringArray('volumeManager.adHocRemoteRoots') ?? [];
  for (const root of roots) {
    if (!root.startsWith('/') || root.split('/').includes('..')) {
      throw new InputError(
        `volumeManager.adHocRemoteRoots: '${root}' must be an absolute path without '..'`,
      );
    }
  }
  return roots;
}

// A label key: an optional DNS-subdomain prefix and '/', then a name of at most 63 characters.
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function readOwnership(config: Config): OwnershipBinding | undefined {
  const o = config.getOptionalConfig('volumeManager.ownership');
  if (!o) return undefined;
  const namespaceLabel = o.getOptionalString('namespaceLabel');
  if (namespaceLabel !== undefined && (!LABEL_KEY.test(namespaceLabel) || namespaceLabel.length > 317)) {
    throw new InputError(`volumeManager.ownership.namespaceLabel: '${namespaceLabel}' is not a Kubernetes label key`);
  }
  const defaults = {
    defaultKind: o.getOptionalString('defaultOwnerKind') ?? 'group',
    defaultNamespace: o.getOptionalString('defaultOwnerNamespace') ?? 'default',
  };
  const mapping = o.getOptionalConfig('namespaces');
  const namespaces: Record<string, string> = {};
  for (const namespace of mapping?.keys() ?? []) {
    const value = mapping!.getString(namespace);
    const ref = normalizeOwnerRef(value, defaults);
    if (!DNS1123_LABEL.test(namespace) || !ref) {
      throw new InputError(
        `volumeManager.ownership.namespaces: '${namespace}: ${value}' must map a namespace to an entity ref`,
      );
    }
    namespaces[namespace] = ref;
  }
  if (namespaceLabel === undefined && Object.keys(namespaces).length === 0) return undefined;
  return {
    namespaceLabel,
    defaultOwnerKind: defaults.defaultKind,
    defaultOwnerNamespace: defaults.defaultNamespace,
    namespaces,
  };
}

/**
 * The one place that turns app-config (and the `NKVM_*` environment variables) into typed
 * options with defaults. A config key wins over its environment variable, which wins over the
 * default. Nothing else in the plugin reads config.
 */
export function readVolumeManagerConfig(
  config: Config,
  env: Env = process.env,
): VolumeManagerConfig {
  const c = (key: string) => config.getOptionalNumber(`volumeManager.${key}`);
  const kubernetes = readKubernetesClusters(config);
  const securityMode = config.getOptionalString('volumeManager.helper.defaultSecurityMode') ?? 'root';
  if (securityMode === 'root-dac-read-search') {
    throw new InputError(
      `volumeManager.helper.defaultSecurityMode 'root-dac-read-search' was removed: helpers read as the ` +
        `workload's own identity; list the namespaces that need root with DAC_READ_SEARCH in ` +
        `volumeManager.helper.readAllNamespaces`,
    );
  }
  if (securityMode !== 'root' && securityMode !== 'nonroot') {
    throw new InputError(
      `volumeManager.helper.defaultSecurityMode must be 'root' or 'nonroot', got '${securityMode}'`,
    );
  }
  return {
    backupDir:
      config.getOptionalString('volumeManager.backupDir') ??
      envString(env, 'NKVM_BACKUP_DIR') ??
      DEFAULTS.backupDir,
    helper: {
      image:
        config.getOptionalString('volumeManager.helper.image') ??
        envString(env, 'NKVM_HELPER_IMAGE') ??
        DEFAULTS.helperImage,
      podTimeoutSeconds:
        positiveInt(c('helper.podTimeoutSeconds'), 'volumeManager.helper.podTimeoutSeconds') ??
        envInt(env, 'NKVM_HELPER_POD_TIMEOUT_SECONDS') ??
        DEFAULTS.helperPodTimeoutSeconds,
      activeDeadlineSeconds:
        positiveInt(
          c('helper.activeDeadlineSeconds'),
          'volumeManager.helper.activeDeadlineSeconds',
        ) ?? DEFAULTS.helperActiveDeadlineSeconds,
      defaultSecurityMode: securityMode,
      readAllNamespaces:
        config.getOptionalStringArray('volumeManager.helper.readAllNamespaces') ?? [],
    },
    discovery: {
      timeoutSeconds:
        positiveInt(c('discovery.timeoutSeconds'), 'volumeManager.discovery.timeoutSeconds') ??
        envInt(env, 'NKVM_DISCOVERY_TIMEOUT_SECONDS') ??
        DEFAULTS.discoveryTimeoutSeconds,
      maxNamespaceScan:
        positiveInt(c('discovery.maxNamespaceScan'), 'volumeManager.discovery.maxNamespaceScan') ??
        envInt(env, 'NKVM_MAX_NAMESPACE_SCAN') ??
        DEFAULTS.maxNamespaceScan,
      cacheTtlSeconds:
        nonNegativeInt(c('discovery.cacheTtlSeconds'), 'volumeManager.discovery.cacheTtlSeconds') ??
        DEFAULTS.inventoryCacheTtlSeconds,
    },
    defaultAuthMode: readAuthMode(config, env),
    allowedNamespaces: config.getOptionalStringArray('volumeManager.allowedNamespaces'),
    concurrency:
      positiveInt(c('concurrency'), 'volumeManager.concurrency') ?? DEFAULTS.concurrency,
    restore: {
      concurrency:
        positiveInt(c('restore.concurrency'), 'volumeManager.restore.concurrency') ??
        DEFAULTS.restoreConcurrency,
    },
    maxVolumesPerRun:
      positiveInt(c('maxVolumesPerRun'), 'volumeManager.maxVolumesPerRun') ??
      DEFAULTS.maxVolumesPerRun,
    leaseSeconds:
      positiveInt(c('leaseSeconds'), 'volumeManager.leaseSeconds') ?? DEFAULTS.leaseSeconds,
    queue: {
      maxActivePerUser:
        positiveInt(c('queue.maxActivePerUser'), 'volumeManager.queue.maxActivePerUser') ??
        DEFAULTS.maxActivePerUser,
      maxActivePerEntity:
        positiveInt(c('queue.maxActivePerEntity'), 'volumeManager.queue.maxActivePerEntity') ??
        DEFAULTS.maxActivePerEntity,
    },
    automationSubjects:
      config.getOptionalStringArray('volumeManager.automation.allowedServiceSubjects') ?? [],
    allowAdHocDestinations:
      config.getOptionalBoolean('volumeManager.allowAdHocDestinations') ?? false,
    adHocRemoteRoots: readAdHocRemoteRoots(config),
    adHocAllowedHosts: parseHostAllowList(
      config.getOptionalStringArray('volumeManager.adHocDestinations.allowedHosts'),
      'volumeManager.adHocDestinations.allowedHosts',
    ),
    remoteTransfer: readRemoteTransfer(config),
    kubernetes: {
      requestTimeoutMs:
        (positiveInt(
          c('kubernetes.requestTimeoutSeconds'),
          'volumeManager.kubernetes.requestTimeoutSeconds',
        ) ?? DEFAULTS.kubernetesRequestTimeoutSeconds) * 1000,
    },
    installationId: readInstallationId(config),
    clusters: readClusters(config),
    kubernetesClusters: kubernetes.clusters,
    unsupportedLocatorMethods: kubernetes.unsupported,
    destinations: readDestinations(config),
    ownership: readOwnership(config),
  };
}
