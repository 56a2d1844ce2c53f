export interface Config {
  /** Configuration of the volume-manager plugins (Kubernetes PVC backup). */
  volumeManager?: {
    /**
     * Directory for local backup archives. Falls back to the NKVM_BACKUP_DIR environment
     * variable, then to `./backups` (the container image sets `/var/lib/nkvm/backups`).
     */
    backupDir?: string;
    /** The helper pod that mounts a PVC read-only and streams `tar` out of it. */
    helper?: {
      /**
       * Image of the helper pod; it needs `tar` and `gzip`. Pin it by digest in production.
       * Falls back to NKVM_HELPER_IMAGE, then `alpine:3.20`.
       */
      image?: string;
      /**
       * Seconds to wait for the helper pod to be Running. Falls back to
       * NKVM_HELPER_POD_TIMEOUT_SECONDS, then 120.
       */
      podTimeoutSeconds?: number;
      /**
       * `activeDeadlineSeconds` of the helper pod: a backstop that ends a helper whatever
       * happens to the backend. Defaults to 21600 (6 hours).
       */
      activeDeadlineSeconds?: number;
      /**
       * Security context used when the workload sets none: `root-dac-read-search` (the default:
       * uid 0 with only the DAC_READ_SEARCH capability, so it reads every file but writes
       * none) or `nonroot` (uid/gid 65534).
       */
      defaultSecurityMode?: 'root-dac-read-search' | 'nonroot';
    };
    discovery?: {
      /**
       * Time budget for one inventory of one cluster. Falls back to
       * NKVM_DISCOVERY_TIMEOUT_SECONDS, then 20.
       */
      timeoutSeconds?: number;
      /**
       * Namespaces listed one by one when cluster-wide lists are forbidden. Falls back to
       * NKVM_MAX_NAMESPACE_SCAN, then 100.
       */
      maxNamespaceScan?: number;
    };
    /**
     * Which cluster access mode the UI offers first: `in-cluster`, `kubeconfig` or `paste`.
     * Falls back to NKVM_DEFAULT_AUTH_MODE; unset by default.
     */
    defaultAuthMode?: 'in-cluster' | 'kubeconfig' | 'paste';
    /** Namespaces the plugin may read and back up. Defaults to all that RBAC allows. */
    allowedNamespaces?: string[];
    /** Backups that run at once on one backend replica. Defaults to 3. */
    concurrency?: number;
    /** Most PVCs one backup request may name. Defaults to 50. */
    maxVolumesPerRun?: number;
    /**
     * Seconds a replica's claim on a running backup lasts without renewal (renewed every
     * quarter of it). After a replica dies, its items become `interrupted` this long later.
     * Defaults to 60.
     */
    leaseSeconds?: number;
    /** Whether a request may carry a one-off remote destination. Defaults to false. */
    allowAdHocDestinations?: boolean;
    /** Clusters in addition to Backstage's `kubernetes.clusterLocatorMethods`. */
    clusters?: Array<{
      /** The cluster name used in the API and the UI. */
      name: string;
      /** Use the in-cluster service account of the backend pod. */
      inCluster?: boolean;
      /** Path of a kubeconfig file on the backend host. */
      kubeconfigPath?: string;
      /** Context in that kubeconfig; its current context by default. */
      context?: string;
    }>;
    /** Remote destinations for archives. The `local` destination is always present. */
    destinations?: Array<{
      /** Identifier used in requests, for example `offsite-ftp`. */
      id: string;
      type: 'ftp' | 'ftps' | 'scp' | 'rsync';
      host: string;
      port?: number;
      username: string;
      /** @visibility secret */
      password?: string;
      /** @visibility secret */
      privateKey?: string;
      /** Root directory on the server; archives go below it. */
      remoteDir: string;
      tls?: {
        ca?: string;
        rejectUnauthorized?: boolean;
        /** Implicit TLS (FTPS on port 990) instead of explicit AUTH TLS. */
        implicit?: boolean;
      };
      /** SHA-256 fingerprint of the server's host key (SCP and RSYNC). Unknown keys are refused. */
      hostKeySha256?: string;
      /** Keep the staged local copy after a successful upload. Defaults to false. */
      keepLocalCopy?: boolean;
    }>;
  };
}
