/** Paths and loaders shared by the deploy tests. */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

export const run = promisify(execFile);

export const REPO_ROOT = path.resolve(__dirname, '../../../..');
export const K8S_DIR = path.join(REPO_ROOT, 'deploy/k8s');
export const APP_DIR = path.join(K8S_DIR, 'app');
export const RBAC_DIR = path.join(K8S_DIR, 'rbac');
/** The real kubectl; the test never talks to a cluster with it except kube-sim. */
export const KUBECTL = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';

export const NAMESPACE = 'nerdy-k8s-volume-manager';
export const SERVICE_ACCOUNT = 'nerdy-k8s-volume-manager';
export const SERVICE_ACCOUNT_USER = `system:serviceaccount:${NAMESPACE}:${SERVICE_ACCOUNT}`;

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: any;
};

export function parseYamlDocs(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map(d => {
      if (d.errors.length) throw new Error(d.errors.map(e => e.message).join('; '));
      return d.toJSON();
    })
    .filter(Boolean);
}

export function readYamlDocs(file: string): K8sObject[] {
  return parseYamlDocs(readFileSync(file, 'utf8'));
}

/** Every YAML manifest file under deploy/k8s except kustomization and the ConfigMap's payload. */
export function manifestFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter(f => f.endsWith('.yaml'))
    .filter(f => f !== 'kustomization.yaml' && !f.startsWith('app-config'))
    .map(f => path.join(dir, f));
}

export async function kustomize(dir = APP_DIR): Promise<K8sObject[]> {
  const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'nkvm-kubectl-cache-'));
  // No kubeconfig, no server: `kubectl kustomize` must render fully offline.
  const { stdout } = await run(KUBECTL, ['kustomize', dir, '--cache-dir', cacheDir], {
    env: { PATH: process.env.PATH ?? '', HOME: cacheDir, KUBECONFIG: path.join(cacheDir, 'none') },
    maxBuffer: 16 * 1024 * 1024,
  });
  return parseYamlDocs(stdout);
}

export interface RbacRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export function clusterRole(file: string): { name: string; rules: RbacRule[] } {
  const [role] = readYamlDocs(path.join(RBAC_DIR, file));
  if (role.kind !== 'ClusterRole') throw new Error(`${file} is not a ClusterRole`);
  return { name: role.metadata.name, rules: role.rules };
}

/**
 * The RBAC of deploy/k8s/rbac as kube-sim PolicyRules: the discovery ClusterRole through its
 * ClusterRoleBinding (cluster-wide), the runtime ClusterRole through one RoleBinding made from
 * the template per allowlisted namespace.
 */
export function serviceAccountPolicy(runtimeNamespaces: string[]) {
  const discovery = clusterRole('clusterrole-cluster-discovery.yaml');
  const runtime = clusterRole('clusterrole-runtime.yaml');
  const [crb] = readYamlDocs(path.join(RBAC_DIR, 'clusterrolebinding-cluster-discovery.yaml'));
  const template = readFileSync(path.join(RBAC_DIR, 'rolebinding-runtime-template.yaml'), 'utf8');
  const bindings = runtimeNamespaces.map(ns => parseYamlDocs(template.replace(/TARGET_NAMESPACE/g, ns))[0]);
  const rules = [];
  const isOurSa = (s: any) => s.kind === 'ServiceAccount' && s.name === SERVICE_ACCOUNT && s.namespace === NAMESPACE;
  if (crb.roleRef.name === discovery.name && crb.subjects.some(isOurSa)) {
    rules.push(...discovery.rules.map(r => ({ ...r })));
  }
  for (const rb of bindings) {
    if (rb.roleRef.kind === 'ClusterRole' && rb.roleRef.name === runtime.name && rb.subjects.some(isOurSa)) {
      rules.push(...runtime.rules.map(r => ({ ...r, namespaces: [rb.metadata.namespace!] })));
    }
  }
  return { rules, bindings };
}
