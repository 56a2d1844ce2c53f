/** Legacy discovery documents: /api, /api/v1, /apis, /apis/<group>, /apis/<group>/<version>, /version. */
import { GROUPS, RESOURCE_TYPES, type ResourceType } from './resources';

export const SERVER_VERSION = {
  major: '1',
  minor: '33',
  gitVersion: 'v1.33.1',
  gitCommit: '8adc0f041b8e7ad1d30e29cc59c6ae7a15e19828',
  gitTreeState: 'clean',
  buildDate: '2025-05-15T08:19:08Z',
  goVersion: 'go1.24.2',
  compiler: 'gc',
  platform: 'linux/amd64',
};

function resourceEntries(types: ResourceType[]): object[] {
  const out: object[] = [];
  for (const t of types) {
    const e: Record<string, unknown> = { name: t.resource, singularName: t.singular, namespaced: t.namespaced, kind: t.kind, verbs: t.verbs };
    if (t.shortNames) e.shortNames = t.shortNames;
    if (t.categories) e.categories = t.categories;
    if (t.storageVersionHash) e.storageVersionHash = t.storageVersionHash;
    out.push(e);
    for (const s of t.subresources ?? []) {
      const se: Record<string, unknown> = { name: `${t.resource}/${s.name}`, singularName: '', namespaced: t.namespaced, kind: s.kind, verbs: s.verbs };
      out.push(se);
    }
  }
  return out;
}

export function apiVersions(serverAddress: string): object {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

export function coreResourceList(): object {
  return { kind: 'APIResourceList', groupVersion: 'v1', resources: resourceEntries(RESOURCE_TYPES.filter(t => t.group === '')) };
}

function groupEntry(g: { name: string; version: string }): object {
  const gv = { groupVersion: `${g.name}/${g.version}`, version: g.version };
  return { name: g.name, versions: [gv], preferredVersion: gv };
}

export function apiGroupList(): object {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: GROUPS.map(groupEntry) };
}

export function apiGroup(name: string): object | undefined {
  const g = GROUPS.find(x => x.name === name);
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...groupEntry(g) } : undefined;
}

export function groupResourceList(group: string, version: string): object | undefined {
  if (!GROUPS.some(g => g.name === group && g.version === version)) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: `${group}/${version}`,
    resources: resourceEntries(RESOURCE_TYPES.filter(t => t.group === group && t.version === version)),
  };
}
