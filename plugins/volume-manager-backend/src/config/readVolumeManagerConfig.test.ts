import { ConfigReader } from '@backstage/config';
import { DEFAULTS, readVolumeManagerConfig } from './readVolumeManagerConfig';

describe('readVolumeManagerConfig', () => {
  it('uses the documented defaults', () => {
    const c = readVolumeManagerConfig(new ConfigReader({}), {});
    expect(c.backupDir).toBe('./backups');
    expect(c.helper.image).toBe('alpine:3.20');
    expect(c.helper.podTimeoutSeconds).toBe(120);
    expect(c.helper.defaultSecurityMode).toBe('root');
    expect(c.helper.readAllNamespaces).toEqual([]);
    expect(c.discovery).toEqual({ timeoutSeconds: 20, maxNamespaceScan: 100, cacheTtlSeconds: 10 });
    expect(c.queue).toEqual({ maxActivePerUser: 200, maxActivePerEntity: 100 });
    expect(c.automationSubjects).toEqual([]);
    expect(c.defaultAuthMode).toBeUndefined();
    expect(c.concurrency).toBe(DEFAULTS.concurrency);
    expect(c.allowAdHocDestinations).toBe(false);
    expect(c.adHocAllowedHosts).toBeUndefined(); // public addresses only
    expect(c.destinations).toEqual([]);
  });

  it('reads adHocDestinations.allowedHosts and refuses an entry it cannot read at start-up', () => {
    const read = (allowedHosts: string[]) =>
      readVolumeManagerConfig(new ConfigReader({ volumeManager: { adHocDestinations: { allowedHosts } } }), {});
    const list = read(['NAS.Example.com.', '*.backup.example.com', '10.20.0.0/16', 'fd00:1::/64', '127.0.0.1']).adHocAllowedHosts!;
    expect([...list.names]).toEqual(['nas.example.com']);
    expect(list.suffixes).toEqual(['.backup.example.com']);
    expect(list.networks.check('10.20.255.1', 'ipv4')).toBe(true);
    expect(list.networks.check('10.21.0.1', 'ipv4')).toBe(false);
    expect(list.networks.check('fd00:1::5', 'ipv6')).toBe(true);
    expect(list.networks.check('127.0.0.1', 'ipv4')).toBe(true);
    expect(list.networks.check('127.0.0.2', 'ipv4')).toBe(false);
    expect(read([]).adHocAllowedHosts?.entries).toEqual([]); // set but empty: nothing allowed
    expect(() => read(['10.0.0.0/40'])).toThrow(
      "volumeManager.adHocDestinations.allowedHosts: '10.0.0.0/40' is not an address or a network",
    );
  });

  it('takes NKVM_* environment variables when config is silent', () => {
    const c = readVolumeManagerConfig(new ConfigReader({}), {
      NKVM_BACKUP_DIR: '/var/lib/nkvm/backups',
      NKVM_HELPER_IMAGE: 'registry.example.com/helper@sha256:abc',
      NKVM_HELPER_POD_TIMEOUT_SECONDS: '30',
      NKVM_DISCOVERY_TIMEOUT_SECONDS: '5',
      NKVM_MAX_NAMESPACE_SCAN: '7',
      NKVM_DEFAULT_AUTH_MODE: 'paste',
    });
    expect(c.backupDir).toBe('/var/lib/nkvm/backups');
    expect(c.helper.image).toBe('registry.example.com/helper@sha256:abc');
    expect(c.helper.podTimeoutSeconds).toBe(30);
    expect(c.discovery).toEqual({ timeoutSeconds: 5, maxNamespaceScan: 7, cacheTtlSeconds: 10 });
    expect(c.defaultAuthMode).toBe('paste');
  });

  it('prefers config keys over environment variables', () => {
    const c = readVolumeManagerConfig(
      new ConfigReader({ volumeManager: { backupDir: '/cfg', helper: { podTimeoutSeconds: 9 } } }),
      { NKVM_BACKUP_DIR: '/env', NKVM_HELPER_POD_TIMEOUT_SECONDS: '30' },
    );
    expect(c.backupDir).toBe('/cfg');
    expect(c.helper.podTimeoutSeconds).toBe(9);
  });

  it('reads the fair-sharing limits, the inventory cache and automation subjects', () => {
    const c = readVolumeManagerConfig(
      new ConfigReader({
        volumeManager: {
          queue: { maxActivePerUser: 20, maxActivePerEntity: 5 },
          discovery: { cacheTtlSeconds: 0 },
          automation: { allowedServiceSubjects: ['external:ci-backups'] },
        },
      }),
      {},
    );
    expect(c.queue).toEqual({ maxActivePerUser: 20, maxActivePerEntity: 5 });
    expect(c.discovery.cacheTtlSeconds).toBe(0);
    expect(c.automationSubjects).toEqual(['external:ci-backups']);
    expect(() =>
      readVolumeManagerConfig(new ConfigReader({ volumeManager: { queue: { maxActivePerUser: 0 } } }), {}),
    ).toThrow("volumeManager.queue.maxActivePerUser must be a positive integer, got '0'");
    expect(() =>
      readVolumeManagerConfig(new ConfigReader({ volumeManager: { discovery: { cacheTtlSeconds: -1 } } }), {}),
    ).toThrow("volumeManager.discovery.cacheTtlSeconds must be an integer of 0 or more, got '-1'");
  });

  it('rejects bad values with a message naming the setting', () => {
    expect(() =>
      readVolumeManagerConfig(new ConfigReader({}), { NKVM_MAX_NAMESPACE_SCAN: 'lots' }),
    ).toThrow("NKVM_MAX_NAMESPACE_SCAN must be a positive integer, got 'lots'");
    expect(() =>
      readVolumeManagerConfig(new ConfigReader({}), { NKVM_DEFAULT_AUTH_MODE: 'magic' }),
    ).toThrow(/must be one of in-cluster, kubeconfig, paste, got 'magic'/);
    expect(() =>
      readVolumeManagerConfig(
        new ConfigReader({ volumeManager: { clusters: [{ name: 'x' }] } }),
        {},
      ),
    ).toThrow("volumeManager.clusters 'x' needs either inCluster: true or kubeconfigPath");
    expect(() =>
      readVolumeManagerConfig(
        new ConfigReader({ volumeManager: { helper: { defaultSecurityMode: 'root-dac-read-search' } } }),
        {},
      ),
    ).toThrow(/was removed: .*volumeManager\.helper\.readAllNamespaces/);
  });

  it('reads the timeouts and the installation id, with their defaults', () => {
    const defaults = readVolumeManagerConfig(new ConfigReader({}), {});
    expect(defaults.kubernetes).toEqual({ requestTimeoutMs: 30_000 });
    expect(defaults.remoteTransfer.stallTimeoutMs).toBe(120_000);
    expect(defaults.installationId).toBeUndefined();
    const c = readVolumeManagerConfig(
      new ConfigReader({
        volumeManager: {
          kubernetes: { requestTimeoutSeconds: 5 },
          remoteTransfer: { stallTimeoutSeconds: 45 },
          installationId: 'prod-eu.backstage_1',
        },
      }),
      {},
    );
    expect(c.kubernetes.requestTimeoutMs).toBe(5000);
    expect(c.remoteTransfer.stallTimeoutMs).toBe(45_000);
    expect(c.installationId).toBe('prod-eu.backstage_1');
    expect(() =>
      readVolumeManagerConfig(new ConfigReader({ volumeManager: { kubernetes: { requestTimeoutSeconds: 0 } } }), {}),
    ).toThrow("volumeManager.kubernetes.requestTimeoutSeconds must be a positive integer, got '0'");
    for (const bad of ['-leading', 'has space', 'x'.repeat(64), 'trailing.']) {
      expect(() =>
        readVolumeManagerConfig(new ConfigReader({ volumeManager: { installationId: bad } }), {}),
      ).toThrow(/volumeManager.installationId must be a Kubernetes label value/);
    }
  });

  it('reads destinations and refuses a reused id', () => {
    const dest = {
      id: 'offsite',
      type: 'ftps',
      host: 'ftp.example.com',
      username: 'backup',
      password: 's3cret',
      remoteDir: '/backups',
      tls: { rejectUnauthorized: false },
    };
    const c = readVolumeManagerConfig(
      new ConfigReader({ volumeManager: { destinations: [dest] } }),
      {},
    );
    expect(c.destinations[0]).toEqual(
      expect.objectContaining({
        id: 'offsite',
        type: 'ftps',
        tls: { ca: undefined, rejectUnauthorized: false, implicit: false },
        keepLocalCopy: false,
      }),
    );
    expect(() =>
      readVolumeManagerConfig(
        new ConfigReader({ volumeManager: { destinations: [{ ...dest, id: 'local' }] } }),
        {},
      ),
    ).toThrow("duplicate or reserved id 'local'");
  });

  it('reads the namespace owner binding, completing bare names', () => {
    expect(readVolumeManagerConfig(new ConfigReader({}), {}).ownership).toBeUndefined();
    const read = (ownership: object) =>
      readVolumeManagerConfig(new ConfigReader({ volumeManager: { ownership } }), {}).ownership;
    expect(read({ namespaceLabel: 'volume-manager.nkvm.io/owner' })).toEqual({
      namespaceLabel: 'volume-manager.nkvm.io/owner',
      defaultOwnerKind: 'group',
      defaultOwnerNamespace: 'default',
      namespaces: {},
    });
    expect(
      read({ defaultOwnerNamespace: 'org', namespaces: { payments: 'team-payments', billing: 'User:default/Alice' } }),
    ).toEqual({
      namespaceLabel: undefined,
      defaultOwnerKind: 'group',
      defaultOwnerNamespace: 'org',
      namespaces: { payments: 'group:org/team-payments', billing: 'user:default/alice' },
    });
    expect(() => read({ namespaceLabel: 'not a label' })).toThrow(
      "volumeManager.ownership.namespaceLabel: 'not a label' is not a Kubernetes label key",
    );
    expect(() => read({ namespaces: { Payments_X: 'team-a' } })).toThrow(
      "volumeManager.ownership.namespaces: 'Payments_X: team-a' must map a namespace to an entity ref",
    );
  });
});
