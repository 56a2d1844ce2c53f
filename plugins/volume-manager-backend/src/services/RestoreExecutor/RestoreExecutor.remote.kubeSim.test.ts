/*
 * Restores from remote destinations: an archive backed up to real vsftpd (FTP) and OpenSSH (SCP
 * over SFTP) servers is read back through the same sink (twice: verify, then write) and restored
 * into a new PVC on kube-sim, compared on disk with the PV it was taken from.
 */
import { mockServices } from '@backstage/backend-test-utils';
import { startKubeSim, type KubeSim } from '@nkvm/kube-sim';
import { compareTrees } from '@nkvm/kube-sim/src/files';
import { startRemoteServers, type RemoteServers } from '../../__testUtils__/remoteServers';
import { recordingHooks, restoreFixture, restoreHarness, simAdmin, snapshot } from '../../__testUtils__/restoreHarness';
import { createBackupExecutor } from '../BackupExecutor/BackupExecutor';
import { FtpArchiveSink } from '../ArchiveSinks/FtpArchiveSink';
import { normalizeRemoteDestination, type RemoteDestinationInput } from '../ArchiveSinks/remoteDestination';
import { ScpArchiveSink } from '../ArchiveSinks/ScpArchiveSink';
import type { ArchiveSink } from '../ArchiveSinks/types';

jest.setTimeout(180_000);

describe('restore from remote destinations', () => {
  let sim: KubeSim;
  let servers: RemoteServers;
  let harness: ReturnType<typeof restoreHarness>;
  let admin: ReturnType<typeof simAdmin>;
  let original: string;

  beforeAll(async () => {
    [sim, servers] = await Promise.all([startKubeSim({ fixture: restoreFixture(), http: true }), startRemoteServers()]);
    harness = restoreHarness(sim);
    admin = simAdmin(sim);
    original = await snapshot(sim.pvDir((await admin.claim('apps', 'data')).spec.volumeName));
  });

  afterAll(async () => {
    await Promise.all([sim?.stop(), servers?.stop()]);
  });

  const sinks: Array<[string, () => RemoteDestinationInput]> = [
    ['ftp', () => ({ type: 'ftp', host: '127.0.0.1', port: servers.ftpPort, username: servers.user, password: servers.password, remoteDir: 'backups/restore-ftp' })],
    [
      'scp',
      () => ({
        type: 'scp', host: '127.0.0.1', port: servers.sshPort, username: servers.user, privateKey: servers.clientPrivateKey,
        hostKeySha256: servers.hostKeySha256, remoteDir: 'backups/restore-scp',
      }),
    ],
  ];

  it.each(sinks)('backs up to %s, then restores from it into a new PVC byte for byte', async (type, input) => {
    const destination = normalizeRemoteDestination(input(), { id: `remote-${type}`, what: 'test destination' });
    const options = { retry: { attempts: 2, initialDelayMs: 50, maxDelayMs: 100, timeoutMs: 20_000 }, logger: mockServices.logger.mock() };
    const sink: ArchiveSink =
      destination.type === 'scp' ? new ScpArchiveSink(destination, options) : new FtpArchiveSink(destination, options);
    const backup = await createBackupExecutor({
      registry: harness.registry,
      config: harness.config,
      logger: harness.logger,
      installationId: async () => 'restore-test',
    }).run(
      { runId: `run-${type}`, itemId: `item-${type}`, cluster: 'sim', namespace: 'apps', pvc: 'data', requestedBy: 'user:default/guest' },
      sink,
      { signal: new AbortController().signal, onHelperPod: () => {}, onProgress: () => {} },
    );
    expect(backup.archiveUri).toMatch(new RegExp(`^${type === 'scp' ? 'sftp|scp' : 'ftp'}`));

    const restore = harness.restoreOf(
      { namespace: 'apps', pvc: 'data', archiveUri: backup.archiveUri, sha256: backup.sha256, bytes: backup.bytes },
      { type: 'newPvc', cluster: 'sim', namespace: 'other', name: `from-${type}` },
    );
    const { hooks, record } = recordingHooks();
    await harness.executor.run(restore, sink, hooks);
    expect(record.checks.every(c => c.ok)).toBe(true);
    const pv = sim.pvDir((await admin.claim('other', `from-${type}`)).spec.volumeName);
    expect(await compareTrees(original, pv)).toEqual([]);
    expect(await admin.helperPods()).toEqual([]);
  });
});
