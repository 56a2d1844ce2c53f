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
       * The helper reads as the workload that mounts the PVC (its runAsUser, runAsGroup,
       * fsGroup and supplementalGroups) with every capability dropped. When the workload sets no
       * uid (or no pod mounts the PVC), this picks one: `root` (the default: uid 0 without
       * capabilities) or `nonroot` (uid/gid 65534).
       */
      defaultSecurityMode?: 'root' | 'nonroot';
      /**
       * Namespaces whose helpers run as root with only DAC_READ_SEARCH, which reads every file
       * whoever owns it. An explicit opt-in per namespace: Pod Security admission at `baseline`
       * or `restricted` refuses that capability, so only namespaces enforcing `privileged`
       * (or none) admit such a helper.
       */
      readAllNamespaces?: string[];
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
    /**
     * The platform's binding of namespaces to owners. Anyone who can edit the catalog can
     * annotate an entity to match any PVC; with a binding, an entity may claim a PVC only if its
     * `spec.owner` is the owner bound to the PVC's namespace, and no entity may claim a PVC in a
     * namespace with no binding (only users the permission policy allows unconditionally act on
     * it). Without a binding, a PVC that several entities match has no owner entity.
     */
    ownership?: {
      /**
       * A Namespace label whose value names the owner, e.g. `volume-manager.nkvm.io/owner`.
       * Label values cannot hold `:` or `/`: the value is the owner's name, completed with
       * `defaultOwnerKind` and `defaultOwnerNamespace` (`team-payments` means
       * `group:default/team-payments`). The backend reads Namespaces (get/list namespaces).
       */
      namespaceLabel?: string;
      /** Kind of an owner named by a label value. Defaults to `group`. */
      defaultOwnerKind?: string;
      /** Catalog namespace of an owner named by a label value. Defaults to `default`. */
      defaultOwnerNamespace?: string;
      /**
       * Owners bound in config, `<namespace>: <owner ref>` (a bare name is completed like a
       * label value). Applies on every cluster and wins over the namespace label.
       */
      namespaces?: { [namespace: string]: string };
    };
    /** Backups that run at once on one backend replica. Defaults to 3. */
    concurrency?: number;
    restore?: {
      /** Restores that run at once on one backend replica. Defaults to 1. */
      concurrency?: number;
    };
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
     * used for that run only, held in the memory of the replica that received the request; its
     * credentials are never stored, logged or returned, and its host, port, user and path are
     * not stored or returned (failure details are logged). The user also needs the permission
     * `volume-manager.destination.adhoc`, and the host must pass
     * `adHocDestinations.allowedHosts`. Defaults to false.
     */
    allowAdHocDestinations?: boolean;
    /**
     * Absolute directories that a one-off destination's `remoteDir` may name (at or below).
     * A relative `remoteDir` (below the account's login directory) is always allowed; `..` never
     * is. Defaults to none: one-off destinations must use relative directories.
     */
    adHocRemoteRoots?: string[];
    /** Where one-off destinations may connect. */
    adHocDestinations?: {
      /**
       * The only hosts one-off destinations may reach: host names (`backup.example.com`),
       * wildcards (`*.example.com`, any name below it but not itself), and addresses or networks
       * in CIDR notation, IPv4 or IPv6 (`203.0.113.7`, `10.20.0.0/16`, `fd00:1::/64`). A listed
       * name may resolve to any address, private ones too; an address is allowed when it (or
       * every address a name resolves to) is inside a listed network. Unset (the default): any
       * host that resolves to public addresses only; refused are loopback, link-local (cloud
       * metadata), private (RFC 1918, ULA fc00::/7, CGNAT 100.64.0.0/10), unspecified,
       * multicast and other reserved addresses, and cluster-internal names (`*.svc`,
       * `*.cluster.local`, `localhost`, names without a dot). The check runs on every address
       * the name resolves to, at request time, and the backend then connects to that checked
       * address.
       */
      allowedHosts?: string[];
    };
    /** Retries and timeouts of uploads to remote destinations. */
    remoteTransfer?: {
      /** Tries in all for a transient failure (connect, stream, finish). Defaults to 3. */
      attempts?: number;
      /** First backoff delay in milliseconds; doubles per retry. Defaults to 1000. */
      initialDelayMs?: number;
      /** Longest backoff delay in milliseconds. Defaults to 30000. */
      maxDelayMs?: number;
      /**
       * Connect, login and per-command timeout in seconds: every FTP command, SSH/SFTP
       * operation and the remote sha256 check. Defaults to 30.
       */
      timeoutSeconds?: number;
      /**
       * Seconds a destination may stay full (accepting no bytes while the helper's output
       * waits for it) before the upload fails. Defaults to 120.
       */
      stallTimeoutSeconds?: number;
    };
    /**
     * Labels this installation's helper pods (`volume-manager.nkvm.io/installation-id`) so its
     * janitor deletes only its own helpers, never those of another Backstage installation
     * backing up the same cluster. A Kubernetes label value. Defaults to an id generated once
     * and stored in the plugin database (shared by every replica of the installation).
     */
    installationId?: string;
    /** Kubernetes API calls. */
    kubernetes?: {
      /**
       * Seconds one Kubernetes API request may take (each page of a list, pod create, get and
       * delete, the exec handshake) before it fails. Defaults to 30.
       */
      requestTimeoutSeconds?: number;
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
