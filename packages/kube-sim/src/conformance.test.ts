/**
 * Conformance: the real kubectl (the lowest supported, 1.27, and 1.33) against kube-sim's demo
 * fixture. Every expectation here is what kubectl prints against a real v1.33 apiserver.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { startKubeSim, type KubeSim } from './sim';
import { spawn } from 'node:child_process';
import { kubectl, KUBECTL_VERSIONS, parseTable, shell, writeTemp } from './__testutils__/kubectl';

jest.setTimeout(60_000);

let sim: KubeSim;

beforeAll(async () => {
  sim = await startKubeSim({ fixture: 'demo' });
});

afterAll(async () => {
  await sim?.stop();
});

const RESTRICTED_USER = 'system:serviceaccount:kube-system:kube-sim-restricted';

function podManifest(name: string, namespace: string, extra = ''): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${namespace}
  labels: {app.kubernetes.io/managed-by: nerdy-k8s-volume-manager}
spec:
  restartPolicy: Never
  containers:
  - name: helper
    image: alpine:3.20
    command: [sleep, "3600"]
${extra}`;
}

describe.each(KUBECTL_VERSIONS)('kubectl %s', version => {
  const k = (args: string[], opts: { context?: string; input?: string } = {}) => kubectl(args, { kubeconfigPath: sim.kubeconfigPath, version, ...opts });
  const suffix = version.replace('.', '-');

  it('get pvc -A prints the apiserver columns', async () => {
    const r = await k(['get', 'pvc', '-A']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const t = parseTable(r.stdout);
    expect(t.header).toEqual(['NAMESPACE', 'NAME', 'STATUS', 'VOLUME', 'CAPACITY', 'ACCESS MODES', 'STORAGECLASS', 'VOLUMEATTRIBUTESCLASS', 'AGE']);
    expect(t.rows).toHaveLength(10);
    const db = t.rows.find(row => row.NAME === 'data-payments-db-0')!;
    expect(db).toMatchObject({ NAMESPACE: 'payments', STATUS: 'Bound', CAPACITY: '8Gi', 'ACCESS MODES': 'RWO', STORAGECLASS: 'standard', VOLUMEATTRIBUTESCLASS: '<unset>', AGE: '2d' });
    expect(db.VOLUME).toMatch(/^pvc-[0-9a-f-]{36}$/);
    expect(t.rows.find(row => row.NAME === 'search-api-cache')!['ACCESS MODES']).toBe('RWOP');
    expect(t.rows.find(row => row.NAME === 'payments-api-uploads')!['ACCESS MODES']).toBe('RWX');
    expect(t.rows.find(row => row.NAME === 'search-api-snapshots')).toMatchObject({ STATUS: 'Pending', VOLUME: '', CAPACITY: '', 'ACCESS MODES': '' });
  });

  it('get pods -o wide prints the wide pod columns', async () => {
    const r = await k(['get', 'pods', '-n', 'search', '-o', 'wide']);
    expect(r.code).toBe(0);
    const t = parseTable(r.stdout);
    expect(t.header).toEqual(['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', 'NODE', 'NOMINATED NODE', 'READINESS GATES']);
    expect(t.rows.find(row => row.NAME === 'search-indexer-0')).toMatchObject({ READY: '1/1', STATUS: 'Running', RESTARTS: '0', NODE: 'node-storage', 'NOMINATED NODE': '<none>', 'READINESS GATES': '<none>' });
  });

  it('get pods -l … -o json (equality and set-based selectors)', async () => {
    const r = await k(['get', 'pods', '-n', 'payments', '-l', 'backstage.io/kubernetes-id=payments-api', '-o', 'json']);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout);
    expect(list.kind).toBe('List');
    expect(list.items).toHaveLength(2);
    for (const p of list.items) {
      expect(p.metadata.ownerReferences[0]).toMatchObject({ apiVersion: 'apps/v1', kind: 'ReplicaSet', controller: true });
      expect(p.status.phase).toBe('Running');
    }
    const r2 = await k(['get', 'pods', '-A', '-l', 'app in (search-api,nothing),tier=backend,!missing', '-o', 'json']);
    expect(JSON.parse(r2.stdout).items.map((p: { metadata: { name: string } }) => p.metadata.name)).toEqual([expect.stringMatching(/^search-api-/)]);
  });

  it('create -f, wait --for=condition=Ready, delete pod', async () => {
    const name = `helper-${suffix}`;
    const file = writeTemp('pod.yaml', podManifest(name, 'payments'));
    const c = await k(['create', '-f', file]);
    expect(c.stderr).toBe('');
    expect(c.stdout.trim()).toBe(`pod/${name} created`);
    const w = await k(['wait', '--for=condition=Ready', `pod/${name}`, '-n', 'payments', '--timeout=30s']);
    expect(w.stdout.trim()).toBe(`pod/${name} condition met`);
    const ev = await k(['get', 'events', '-n', 'payments', '--field-selector', `involvedObject.name=${name}`, '-o', 'json']);
    expect(JSON.parse(ev.stdout).items.map((e: { reason: string }) => e.reason)).toEqual(expect.arrayContaining(['Scheduled', 'Pulled', 'Created', 'Started']));
    const again = await k(['create', '-f', file]);
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toBe(`Error from server (AlreadyExists): error when creating "${file}": pods "${name}" already exists`);
    const d = await k(['delete', 'pod', name, '-n', 'payments']);
    expect(d.stdout.trim()).toBe(`pod "${name}" deleted`);
    const g = await k(['get', 'pod', name, '-n', 'payments']);
    expect(g.code).toBe(1);
    expect(g.stderr.trim()).toBe(`Error from server (NotFound): pods "${name}" not found`);
  });

  it('rejects a name that is not DNS-1123 with 422 Invalid', async () => {
    const file = writeTemp('bad.yaml', podManifest('Bad_Name', 'payments'));
    const r = await k(['create', '-f', file]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `The Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
    );
  });

  it('auth can-i answers yes and no consistently with the authorizer', async () => {
    const yes = await k(['auth', 'can-i', 'list', 'pods', '-A']);
    expect([yes.code, yes.stdout.trim()]).toEqual([0, 'yes']);
    const no = await k(['auth', 'can-i', 'list', 'pods', '-A'], { context: 'kube-sim-restricted' });
    expect([no.code, no.stdout.trim()]).toEqual([1, 'no']);
    const ns = await k(['auth', 'can-i', 'create', 'pods/exec', '-n', 'search'], { context: 'kube-sim-restricted' });
    expect([ns.code, ns.stdout.trim()]).toEqual([0, 'yes']);
    const other = await k(['auth', 'can-i', 'get', 'persistentvolumeclaims', '-n', 'platform'], { context: 'kube-sim-restricted' });
    expect([other.code, other.stdout.trim()]).toEqual([1, 'no']);
  });

  it('gives the restricted token the real 403 messages', async () => {
    const all = await k(['get', 'pods', '-A'], { context: 'kube-sim-restricted' });
    expect(all.code).toBe(1);
    expect(all.stderr.trim()).toBe(`Error from server (Forbidden): pods is forbidden: User "${RESTRICTED_USER}" cannot list resource "pods" in API group "" at the cluster scope`);
    const other = await k(['get', 'pvc', '-n', 'platform'], { context: 'kube-sim-restricted' });
    expect(other.stderr.trim()).toBe(
      `Error from server (Forbidden): persistentvolumeclaims is forbidden: User "${RESTRICTED_USER}" cannot list resource "persistentvolumeclaims" in API group "" in the namespace "platform"`,
    );
    const one = await k(['get', 'deployment', 'coredns', '-n', 'kube-system'], { context: 'kube-sim-restricted' });
    expect(one.stderr.trim()).toBe(
      `Error from server (Forbidden): deployments.apps "coredns" is forbidden: User "${RESTRICTED_USER}" cannot get resource "deployments" in API group "apps" in the namespace "kube-system"`,
    );
    const own = await k(['get', 'pvc', '-n', 'payments', '-o', 'name'], { context: 'kube-sim-restricted' });
    expect(own.code).toBe(0);
    expect(own.stdout.trim().split('\n')).toHaveLength(3);
  });
});

describe('kubectl 1.33 watch', () => {
  it('get -w streams the new pod until it runs', async () => {
    const cache = await fs.mkdtemp('/tmp/kubectl-cache-');
    const child = spawn('/usr/lib/google-cloud-sdk/bin/kubectl.1.33', [`--cache-dir=${cache}`, 'get', 'pods', '-n', 'search', '-w'], { env: { ...process.env, KUBECONFIG: sim.kubeconfigPath } });
    let out = '';
    child.stdout.on('data', c => (out += c));
    try {
      const deadline = Date.now() + 20_000;
      while (!out.includes('search-indexer-0') && Date.now() < deadline) await new Promise(r => setTimeout(r, 50));
      const file = writeTemp('pod.yaml', podManifest('watched', 'search'));
      expect((await kubectl(['create', '-f', file], { kubeconfigPath: sim.kubeconfigPath })).code).toBe(0);
      while (!/watched\s+1\/1\s+Running/.test(out) && Date.now() < deadline) await new Promise(r => setTimeout(r, 50));
      expect(out).toMatch(/watched\s+0\/1\s+Pending/);
      expect(out).toMatch(/watched\s+1\/1\s+Running/);
      expect(out.split('\n')[0]).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/);
    } finally {
      child.kill();
      await kubectl(['delete', 'pod', 'watched', '-n', 'search', '--wait=false'], { kubeconfigPath: sim.kubeconfigPath });
    }
  });
});

describe('exec, cp and read-only mounts', () => {
  const helper = 'exec-helper';
  let pvDir: string;

  beforeAll(async () => {
    const file = writeTemp(
      'helper.yaml',
      podManifest(
        helper,
        'payments',
        `    volumeMounts: [{name: data, mountPath: /data, readOnly: true}]
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: payments-db-scratch}
`,
      ),
    );
    for (const args of [['create', '-f', file], ['wait', '--for=condition=Ready', `pod/${helper}`, '-n', 'payments', '--timeout=30s']]) {
      const r = await kubectl(args, { kubeconfigPath: sim.kubeconfigPath });
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
    }
    const pvc = sim.getObject('v1', 'PersistentVolumeClaim', 'payments', 'payments-db-scratch')!;
    pvDir = sim.pvDir(pvc.spec.volumeName);
  });

  async function hostListing(): Promise<string[]> {
    const out: string[] = ['.'];
    const walk = async (rel: string) => {
      for (const e of await fs.readdir(path.join(pvDir, rel), { withFileTypes: true })) {
        const p = rel ? `${rel}/${e.name}` : e.name;
        out.push(`./${p}`);
        if (e.isDirectory()) await walk(p);
      }
    };
    await walk('');
    return out.sort();
  }

  describe.each(KUBECTL_VERSIONS)('kubectl %s', version => {
    const bin = `/usr/lib/google-cloud-sdk/bin/kubectl.${version}`;
    const sh = async (script: string) => {
      const cache = await fs.mkdtemp('/tmp/kubectl-cache-');
      return shell(script, { KUBECONFIG: sim.kubeconfigPath, K: `${bin} --cache-dir=${cache}`, PATH: process.env.PATH ?? '' });
    };

    it('exec -- tar -czf - -C /data . | tar -tzf - lists the PV exactly', async () => {
      const r = await sh(`$K exec -n payments ${helper} -- tar -czf - -C /data . | tar -tzf -`);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const listed = r.stdout.split('\n').filter(Boolean).map(l => l.replace(/\/$/, '')).sort();
      expect(listed).toEqual(await hostListing());
      expect(listed.length).toBeGreaterThan(3);
    });

    it('propagates exit codes', async () => {
      const r = await sh(`$K exec -n payments ${helper} -- sh -c 'echo out; echo err >&2; exit 7'`);
      expect(r.code).toBe(7);
      expect(r.stdout).toBe('out\n');
      expect(r.stderr).toContain('err\n');
      expect(r.stderr).toContain('command terminated with exit code 7');
    });

    it('exec -i carries stdin', async () => {
      // wc only finishes when stdin is closed: this also checks that EOF travels through
      const r = await sh(`printf 'hello from stdin' | $K exec -i -n payments ${helper} -- wc -c`);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('16\n');
      const echo = await sh(`printf 'line one\\nline two\\n' | $K exec -i -n payments ${helper} -- cat`);
      expect(echo.stdout).toBe('line one\nline two\n');
    });

    it('cp copies a file out of the pod byte for byte', async () => {
      const files = (await hostListing()).filter(p => p.endsWith('.dat'));
      const rel = files[0].slice(2);
      const dest = path.join(await fs.mkdtemp('/tmp/kube-sim-cp-'), 'copy');
      const r = await sh(`$K cp payments/${helper}:/data/${rel} ${dest}`);
      expect(r.code).toBe(0);
      expect((await fs.readFile(dest)).equals(await fs.readFile(path.join(pvDir, rel)))).toBe(true);
    });

    it('a read-only mount refuses writes', async () => {
      const r = await sh(`$K exec -n payments ${helper} -- sh -c 'echo x > /data/new-file'`);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/Read-only file system/);
      await expect(fs.stat(path.join(pvDir, 'new-file'))).rejects.toThrow();
    });
  });
});
