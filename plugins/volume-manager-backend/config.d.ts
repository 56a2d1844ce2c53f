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
      /**
       * Seconds one cluster's listed PVCs, pods and owners serve `GET /volumes` before they are
       * listed again; concurrent requests share one listing. Permissions are still checked per
       * request, and creating a backup always lists afresh. 0 turns the cache off. Defaults to 10.
       */
      cacheTtlSeconds?: number;
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
    /** Fair sharing between requesters. */
    queue?: {
      /**
       * Most backups (PVCs) one requester may have queued or running at once, across replicas;
       * a request past it gets 409. Defaults to 200.
       */
      maxActivePerUser?: number;
      /**
       * Most backups of one catalog entity's PVCs queued or running at once; a request past it
       * gets 409. Defaults to 100.
       */
      maxActivePerEntity?: number;
    };
    /** Calls from automation (Backstage service principals) rather than users. */
    automation?: {
      /**
       * Subjects of service principals (for example `ci-backups`, from
       * `backend.auth.externalAccess`) that may call `GET /volumes`, `POST /backups` and
       * `GET /backups/:runId`. Empty (the default): only users may.
       */
      allowedServiceSubjects?: string[];
    };
    /**
     * Whether a request may carry a one-off remote destination (with its credentials). It is
     * used for that run only, held in the memory of the replica that received the request, and
     * never stored, logged or returned. Defaults to false.
     */
    allowAdHocDestinations?: boolean;
    /**
     * Absolute directories that a one-off destination's `remoteDir` may name (at or below).
     * A relative `remoteDir` (below the account's login directory) is always allowed; `..` never
     * is. Defaults to none: one-off destinations must use relative directories.
     */
    adHocRemoteRoots?: string[];
    /** Retries and timeouts of uploads to remote destinations. */
    remoteTransfer?: {
      /** Tries in all for a transient failure (connect, stream, finish). Defaults to 3. */
      attempts?: number;
      /** First backoff delay in milliseconds; doubles per retry. Defaults to 1000. */
      initialDelayMs?: number;
      /** Longest backoff delay in milliseconds. Defaults to 30000. */
      maxDelayMs?: number;
      /** Connect, login and per-command timeout in seconds. Defaults to 30. */
      timeoutSeconds?: number;
    };
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
      /** `ftp`, `ftps` (FTP over TLS), `scp` (streamed over SFTP) or `rsync` (over ssh). */
      type: 'ftp' | 'ftps' | 'scp' | 'rsync';
      host: string;
      /** Defaults to 21 (ftp, explicit ftps), 990 (implicit ftps) or 22 (scp, rsync). */
      port?: number;
      username: string;
      /**
       * Password (FTP, FTPS; SCP and RSYNC when no privateKey is set).
       * @visibility secret
       */
      password?: string;
      /**
       * OpenSSH or PEM private key for SCP and RSYNC, unencrypted.
       * @visibility secret
       */
      privateKey?: string;
      /**
       * Root directory on the server; archives go below it as
       * `<cluster>/<namespace>/<pvc>/<pvc>-<stamp>.tar.gz`. Relative to the login directory
       * unless it starts with `/`. `..` is refused.
       */
      remoteDir: string;
      /** FTPS only. */
      tls?: {
        /** PEM CA bundle to verify the server's certificate with. */
        ca?: string;
        /** Defaults to true; false accepts any certificate (testing only). */
        rejectUnauthorized?: boolean;
        /** Implicit TLS (FTPS on port 990) instead of explicit AUTH TLS. */
        implicit?: boolean;
      };
      /**
       * SHA-256 fingerprint of the server's host key as `ssh-keygen -lf` prints it
       * (`SHA256:...`), for SCP and RSYNC. Required: without it, or on a mismatch, the
       * connection is refused.
       */
      hostKeySha256?: string;
      /**
       * RSYNC only: keep the staged local copy (moved into the local layout under backupDir)
       * after a successful upload. Defaults to false.
       */
      keepLocalCopy?: boolean;
    }>;
  };
}
