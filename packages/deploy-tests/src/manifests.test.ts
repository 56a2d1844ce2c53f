/*
 * deploy/k8s: renders offline with the real kubectl, validates against the Kubernetes JSON
 * schemas of the `kubernetes-models` npm package (generated from the Kubernetes OpenAPI
 * definitions and compiled by ajv; no network), and keeps the security invariants the docs
 * promise. The RBAC's fit to the code is rbac.kubeSim.test.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  APP_DIR,
  K8S_DIR,
  NAMESPACE,
  RBAC_DIR,
  SERVICE_ACCOUNT,
  kustomize,
  manifestFiles,
  parseYamlDocs,
  readYamlDocs,
  type K8sObject,
} from './__testUtils__/repo';
import { unknownFields } from './__testUtils__/unknownFields';

jest.setTimeout(60_000);

/** apiVersion → the kubernetes-models module with that group-version's models. */
function modelsModule(apiVersion: string): Record<string, any> {
  const modules: Record<string, () => Record<string, any>> = {
    v1: () => require('kubernetes-models/v1'),
    'apps/v1': () => require('kubernetes-models/apps/v1'),
    'rbac.authorization.k8s.io/v1': () => require('kubernetes-models/rbac.authorization.k8s.io/v1'),
  };
  const load = modules[apiVersion];
  if (!load) throw new Error(`no schema module for apiVersion ${apiVersion}`);
  return load();
}

/** Validates against the schema of apiVersion/kind; returns the error text or undefined. */
function schemaErrors(obj: K8sObject): string | undefined {
  const Model = modelsModule(obj.apiVersion)[obj.kind];
  if (!Model) return `no schema for ${obj.apiVersion} ${obj.kind}`;
  try {
    new Model(obj).validate();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

const rbacFiles = manifestFiles(RBAC_DIR);
const appFiles = manifestFiles(APP_DIR);

describe('deploy/k8s/app', () => {
  let rendered: K8sObject[];
  beforeAll(async () => {
    rendered = await kustomize();
  });

  it('renders offline with the real kubectl (kubectl kustomize)', () => {
    const kinds = rendered.map(o => `${o.kind}/${o.metadata.name.replace(/-[a-z0-9]{10}$/, '')}`).sort();
    expect(kinds).toEqual([
      'ConfigMap/nerdy-k8s-volume-manager-config',
      'Deployment/nerdy-k8s-volume-manager',
      'Namespace/nerdy-k8s-volume-manager',
      'PersistentVolumeClaim/nerdy-k8s-volume-manager-backups',
      'PersistentVolumeClaim/nerdy-k8s-volume-manager-data',
      'Service/nerdy-k8s-volume-manager',
    ]);
    for (const o of rendered.filter(x => x.kind !== 'Namespace')) {
      expect(o.metadata.namespace).toBe(NAMESPACE);
    }
  });

  it('every rendered object validates against its Kubernetes schema', () => {
    const failures = rendered.map(o => [o.kind, schemaErrors(o)]).filter(([, e]) => e);
    expect(failures).toEqual([]);
  });

  it('no rendered object has a field the Kubernetes API does not define', () => {
    expect(rendered.flatMap(o => unknownFields(o))).toEqual([]);
  });

  it('the unknown-field check is real: a typo in the security context fails it', () => {
    const deployment = structuredClone(rendered.find(o => o.kind === 'Deployment')!);
    const c = deployment.spec.template.spec.containers[0];
    c.securityContext.readOnlyRootFileSystem = c.securityContext.readOnlyRootFilesystem;
    delete c.securityContext.readOnlyRootFilesystem;
    expect(unknownFields(deployment)).toEqual([
      'Deployment.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem',
    ]);
  });

  it('the schema check is real: a broken Deployment fails it', () => {
    const deployment = structuredClone(rendered.find(o => o.kind === 'Deployment')!);
    deployment.spec.replicas = 'one';
    delete deployment.spec.template.spec.containers[0].name;
    expect(schemaErrors(deployment)).toMatch(/replicas must be integer/);
  });

  it('the Deployment runs non-root, read-only, without capabilities, with seccomp and probes', () => {
    const deployment = rendered.find(o => o.kind === 'Deployment')!;
    const pod = deployment.spec.template.spec;
    expect(pod.serviceAccountName).toBe(SERVICE_ACCOUNT);
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      fsGroup: 10001,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.containers).toHaveLength(1);
    expect(pod.initContainers ?? []).toEqual([]);
    const [c] = pod.containers;
    expect(c.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.ports).toEqual([{ name: 'http', containerPort: 7007, protocol: 'TCP' }]);
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
      expect(c[probe].httpGet).toEqual({ path: '/api/volume-manager/health', port: 'http' });
    }
    // The image's env defaults, restated so `kubectl describe` shows them.
    const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value]));
    expect(env).toMatchObject({
      NKVM_BACKUP_DIR: '/var/lib/nkvm/backups',
      NKVM_METADATA_DB_PATH: '/var/lib/nkvm/data/backups.db',
      NKVM_DEFAULT_AUTH_MODE: 'in-cluster',
    });
    // Writable paths are volumes; everything else is the read-only image.
    const mounts = Object.fromEntries(c.volumeMounts.map((m: any) => [m.mountPath, m]));
    expect(Object.keys(mounts).sort()).toEqual(['/etc/nkvm', '/tmp', '/var/lib/nkvm/backups', '/var/lib/nkvm/data']);
    expect(mounts['/etc/nkvm'].readOnly).toBe(true);
    const volumes = Object.fromEntries(pod.volumes.map((v: any) => [v.name, v]));
    expect(volumes.backups.persistentVolumeClaim.claimName).toBe('nerdy-k8s-volume-manager-backups');
    expect(volumes.data.persistentVolumeClaim.claimName).toBe('nerdy-k8s-volume-manager-data');
    expect(volumes.tmp.emptyDir).toBeDefined();
    // The ConfigMap reference follows kustomize's hashed name.
    const configMap = rendered.find(o => o.kind === 'ConfigMap')!;
    expect(volumes.config.configMap.name).toBe(configMap.metadata.name);
    expect(deployment.spec.strategy.type).toBe('Recreate');
    // No host access of any kind.
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.hostPID ?? false).toBe(false);
    expect(pod.volumes.filter((v: any) => v.hostPath)).toEqual([]);
  });

  it('the Service maps port 80 to the backend port and selects the Deployment pods', () => {
    const service = rendered.find(o => o.kind === 'Service')!;
    const deployment = rendered.find(o => o.kind === 'Deployment')!;
    expect(service.spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
    expect(deployment.spec.template.metadata.labels).toMatchObject(service.spec.selector);
  });

  it('the ConfigMap carries an app-config that names the in-cluster cluster', () => {
    const configMap = rendered.find(o => o.kind === 'ConfigMap')!;
    const text = configMap.data['app-config.kubernetes.yaml'];
    expect(text).toBe(readFileSync(path.join(APP_DIR, 'app-config.kubernetes.yaml'), 'utf8'));
    const [config] = readYamlDocs(path.join(APP_DIR, 'app-config.kubernetes.yaml')) as any[];
    expect(config.volumeManager.clusters).toEqual([{ name: 'in-cluster', inCluster: true }]);
    // Nothing insecure is switched on by default.
    expect(config.auth).toBeUndefined();
    expect(config.volumeManager.allowAdHocDestinations).toBe(false);
  });
});

describe('every manifest file under deploy/k8s', () => {
  const files = [...appFiles, ...rbacFiles];

  it.each(files.map(f => [path.relative(K8S_DIR, f), f]))('%s validates against its Kubernetes schema', (_name, file) => {
    const text = readFileSync(file, 'utf8').replace(/TARGET_NAMESPACE/g, 'example');
    const docs = parseYamlDocs(text);
    expect(docs.length).toBeGreaterThan(0);
    for (const doc of docs) {
      expect([doc.kind, schemaErrors(doc)]).toEqual([doc.kind, undefined]);
      expect([doc.kind, unknownFields(doc)]).toEqual([doc.kind, []]);
    }
  });

  it('the example Secrets are not applied by kustomization.yaml', () => {
    const kustomization = readYamlDocs(path.join(APP_DIR, 'kustomization.yaml'))[0] as any;
    expect(kustomization.resources).not.toContain('remote-kubeconfig-secret-example.yaml');
    expect(kustomization.resources).not.toContain('postgres-connection-secret-example.yaml');
    for (const r of kustomization.resources) expect(existsSync(path.join(APP_DIR, r))).toBe(true);
  });
});

describe('deploy/k8s/rbac', () => {
  const all = rbacFiles.flatMap(f => readYamlDocs(f).map(o => ({ file: path.basename(f), o })));

  it('has exactly the five documented files', () => {
    expect(rbacFiles.map(f => path.basename(f)).sort()).toEqual([
      'clusterrole-cluster-discovery.yaml',
      'clusterrole-runtime.yaml',
      'clusterrolebinding-cluster-discovery.yaml',
      'rolebinding-runtime-template.yaml',
      'serviceaccount.yaml',
    ]);
  });

  it('uses no wildcards anywhere', () => {
    for (const { file, o } of all) {
      for (const rule of o.rules ?? []) {
        for (const key of ['apiGroups', 'resources', 'verbs', 'resourceNames', 'nonResourceURLs']) {
          for (const v of rule[key] ?? []) expect({ file, key, v, wildcard: String(v).includes('*') }).toEqual({ file, key, v, wildcard: false });
        }
      }
    }
  });

  it('the discovery role only reads, and never secrets or configmaps', () => {
    const role = all.find(x => x.file === 'clusterrole-cluster-discovery.yaml')!.o;
    for (const rule of role.rules) {
      expect(rule.verbs.filter((v: string) => !['get', 'list', 'watch'].includes(v))).toEqual([]);
      expect(rule.resources).not.toContain('secrets');
      expect(rule.resources).not.toContain('configmaps');
    }
  });

  it('the runtime role is only ever bound per namespace', () => {
    const bindings = all.filter(x => x.o.kind === 'ClusterRoleBinding').map(x => x.o.roleRef.name);
    expect(bindings).toEqual(['nerdy-k8s-volume-manager-cluster-discovery']);
    const template = all.find(x => x.file === 'rolebinding-runtime-template.yaml')!.o;
    expect(template.kind).toBe('RoleBinding');
    expect(template.metadata.namespace).toBe('TARGET_NAMESPACE');
    expect(template.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'nerdy-k8s-volume-manager-runtime',
    });
  });

  it('every binding names the ServiceAccount of serviceaccount.yaml', () => {
    const sa = all.find(x => x.o.kind === 'ServiceAccount')!.o;
    expect(sa.metadata).toMatchObject({ name: SERVICE_ACCOUNT, namespace: NAMESPACE });
    for (const { o } of all.filter(x => x.o.kind.endsWith('Binding'))) {
      expect(o.subjects).toEqual([{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace: NAMESPACE }]);
    }
  });
});
