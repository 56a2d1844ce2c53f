/**
 * Pod Security admission, behaving like kube-apiserver 1.33's built-in PodSecurity plugin
 * (k8s.io/pod-security-admission): namespace labels → policy, the Pod Security Standards checks
 * with their reasons and details, enforce (403), warn (`Warning` headers) and audit (annotations),
 * the namespace-label update warnings and exemptions by namespace, user or runtime class.
 *
 * Written from the upstream sources (policy/check_*.go, policy/registry.go, api/helpers.go,
 * admission/admission.go); the texts must stay byte-identical to what the apiserver answers.
 */
import type { KObj } from './types';
import { errors, type ApiError } from './status';

export type Level = 'privileged' | 'baseline' | 'restricted';

/** A level and a policy version: `latest` or a minor of Kubernetes 1. */
export interface LevelVersion {
  level: Level;
  /** undefined means `latest` */
  minor?: number;
}

export interface Policy {
  enforce: LevelVersion;
  audit: LevelVersion;
  warn: LevelVersion;
}

export interface PodSecurityExemptions {
  namespaces?: string[];
  usernames?: string[];
  runtimeClasses?: string[];
}

export const PSA_LABEL_PREFIX = 'pod-security.kubernetes.io/';
/** Audit annotation keys as they appear in the apiserver's audit events. */
export const AUDIT_VIOLATIONS = `${PSA_LABEL_PREFIX}audit-violations`;
export const ENFORCE_POLICY = `${PSA_LABEL_PREFIX}enforce-policy`;
export const EXEMPT = `${PSA_LABEL_PREFIX}exempt`;

const LEVELS: Level[] = ['privileged', 'baseline', 'restricted'];
const VERSION_RE = /^v1\.(0|[1-9][0-9]*)$/;

export function levelVersionString(lv: LevelVersion): string {
  return `${lv.level}:${lv.minor === undefined ? 'latest' : `v1.${lv.minor}`}`;
}

export interface LabelError {
  label: string;
  value: string;
  message: string;
}

/**
 * PolicyToEvaluate: the namespace's labels over the default policy (privileged:latest, as an
 * apiserver without an admission configuration). A bad enforce level means `restricted`, a bad
 * audit or warn level `privileged` (fail open), a bad version `latest`; the errors are returned.
 */
export function policyFromLabels(labels: Record<string, string> | undefined): { policy: Policy; errors: LabelError[] } {
  const policy: Policy = { enforce: { level: 'privileged' }, audit: { level: 'privileged' }, warn: { level: 'privileged' } };
  const errs: LabelError[] = [];
  if (!labels) return { policy, errors: errs };
  for (const mode of ['enforce', 'audit', 'warn'] as const) {
    const levelLabel = `${PSA_LABEL_PREFIX}${mode}`;
    const level = labels[levelLabel];
    if (level !== undefined) {
      if ((LEVELS as string[]).includes(level)) policy[mode].level = level as Level;
      else {
        policy[mode].level = mode === 'enforce' ? 'restricted' : 'privileged';
        errs.push({ label: levelLabel, value: level, message: `must be one of ${LEVELS.join(', ')}` });
      }
    }
    const versionLabel = `${levelLabel}-version`;
    const version = labels[versionLabel];
    if (version !== undefined && version !== 'latest') {
      const m = VERSION_RE.exec(version);
      if (m) policy[mode].minor = Number(m[1]);
      else errs.push({ label: versionLabel, value: version, message: 'must be "latest" or "v1.x"' });
    }
  }
  // the apiserver reports enforce, enforce-version, audit, audit-version, warn, warn-version
  return { policy, errors: errs };
}

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

type AnyObj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Violation {
  reason: string;
  detail: string;
}

type CheckFn = (meta: AnyObj, spec: AnyObj) => Violation | undefined;

interface VersionedCheck {
  /** first policy minor (1.x) this implementation applies to */
  min: number;
  fn: CheckFn;
  /** baseline checks this restricted check supersedes */
  overrides?: string[];
}

interface Check {
  id: string;
  level: 'baseline' | 'restricted';
  versions: VersionedCheck[];
}

function joinQuote(items: string[]): string {
  return items.length ? `"${items.join('", "')}"` : '';
}

function pluralize(singular: string, plural: string, n: number): string {
  return n === 1 ? singular : plural;
}

function sortedUnique(items: Iterable<string>): string[] {
  return [...new Set(items)].sort();
}

/** initContainers, containers, ephemeralContainers: the order of the upstream visitor. */
function containersOf(spec: AnyObj): AnyObj[] {
  return [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])].filter(c => c && typeof c === 'object');
}

function sc(c: AnyObj): AnyObj | undefined {
  return c.securityContext && typeof c.securityContext === 'object' ? c.securityContext : undefined;
}

function podSc(spec: AnyObj): AnyObj | undefined {
  return spec.securityContext && typeof spec.securityContext === 'object' ? spec.securityContext : undefined;
}

function isWindows(spec: AnyObj): boolean {
  return spec.os?.name === 'windows';
}

function containersPhrase(names: string[]): string {
  return `${pluralize('container', 'containers', names.length)} ${joinQuote(names)}`;
}

/** "pod and containers "a", "b"" style setters for checks that look at pod and containers. */
function setters(pod: boolean, containers: string[]): string[] {
  const out = pod ? ['pod'] : [];
  if (containers.length) out.push(containersPhrase(containers));
  return out;
}

const BASELINE_CAPABILITIES = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']);

const appArmorProfile: CheckFn = (meta, spec) => {
  const allowedType = (t: unknown) => t === 'RuntimeDefault' || t === 'Localhost';
  const badValues = new Set<string>();
  const podProfile = podSc(spec)?.appArmorProfile;
  const podBad = !!podProfile && !allowedType(podProfile.type);
  if (podBad) badValues.add(String(podProfile.type ?? ''));
  const badContainers: string[] = [];
  for (const c of containersOf(spec)) {
    const p = sc(c)?.appArmorProfile;
    if (p && !allowedType(p.type)) {
      badContainers.push(c.name);
      badValues.add(String(p.type ?? ''));
    }
  }
  const badSetters = setters(podBad, badContainers);
  const annotations: string[] = [];
  for (const [k, v] of Object.entries((meta.annotations ?? {}) as Record<string, string>)) {
    if (k.startsWith('container.apparmor.security.beta.kubernetes.io/') && !(v === '' || v === 'runtime/default' || v.startsWith('localhost/'))) {
      annotations.push(`${k}=${JSON.stringify(v)}`);
    }
  }
  const values = [...sortedUnique(badValues)];
  if (annotations.length) {
    values.push(...annotations.sort());
    badSetters.push(pluralize('annotation', 'annotations', annotations.length));
  }
  if (!badSetters.length) return undefined;
  return {
    reason: pluralize('forbidden AppArmor profile', 'forbidden AppArmor profiles', values.length),
    detail: `${badSetters.join(' and ')} must not set AppArmor profile type to ${joinQuote(values)}`,
  };
};

const capabilitiesBaseline: CheckFn = (_meta, spec) => {
  const bad: string[] = [];
  const caps = new Set<string>();
  for (const c of containersOf(spec)) {
    const add: string[] = sc(c)?.capabilities?.add ?? [];
    const forbidden = add.filter(a => !BASELINE_CAPABILITIES.has(a));
    if (forbidden.length) {
      bad.push(c.name);
      forbidden.forEach(a => caps.add(a));
    }
  }
  if (!bad.length) return undefined;
  return { reason: 'non-default capabilities', detail: `${containersPhrase(bad)} must not include ${joinQuote(sortedUnique(caps))} in securityContext.capabilities.add` };
};

const hostNamespaces: CheckFn = (_meta, spec) => {
  const set = [spec.hostNetwork && 'hostNetwork=true', spec.hostPID && 'hostPID=true', spec.hostIPC && 'hostIPC=true'].filter(Boolean) as string[];
  return set.length ? { reason: 'host namespaces', detail: set.join(', ') } : undefined;
};

const hostPathVolumes: CheckFn = (_meta, spec) => {
  const names = ((spec.volumes ?? []) as AnyObj[]).filter(v => v?.hostPath).map(v => v.name as string);
  return names.length ? { reason: 'hostPath volumes', detail: `${pluralize('volume', 'volumes', names.length)} ${joinQuote(names)}` } : undefined;
};

const hostPorts: CheckFn = (_meta, spec) => {
  const bad: string[] = [];
  const ports = new Set<string>();
  for (const c of containersOf(spec)) {
    const hp = ((c.ports ?? []) as AnyObj[]).map(p => Number(p?.hostPort ?? 0)).filter(p => p !== 0);
    if (hp.length) {
      bad.push(c.name);
      hp.forEach(p => ports.add(String(p)));
    }
  }
  if (!bad.length) return undefined;
  const list = sortedUnique(ports);
  return {
    reason: 'hostPort',
    detail: `${containersPhrase(bad)} ${pluralize('uses', 'use', bad.length)} ${pluralize('hostPort', 'hostPorts', list.length)} ${list.join(', ')}`,
  };
};

const privileged: CheckFn = (_meta, spec) => {
  const bad = containersOf(spec).filter(c => sc(c)?.privileged === true).map(c => c.name as string);
  return bad.length ? { reason: 'privileged', detail: `${containersPhrase(bad)} must not set securityContext.privileged=true` } : undefined;
};

const procMount: CheckFn = (_meta, spec) => {
  const bad: string[] = [];
  const types = new Set<string>();
  for (const c of containersOf(spec)) {
    const pm = sc(c)?.procMount;
    if (pm !== undefined && pm !== null && pm !== 'Default') {
      bad.push(c.name);
      types.add(String(pm));
    }
  }
  return bad.length ? { reason: 'procMount', detail: `${containersPhrase(bad)} must not set securityContext.procMount to ${joinQuote(sortedUnique(types))}` } : undefined;
};

function seLinuxOptions(allowedTypes: string[]): CheckFn {
  return (_meta, spec) => {
    const badTypes = new Set<string>();
    let setUser = false;
    let setRole = false;
    const valid = (o: AnyObj) => {
      let ok = true;
      const type = String(o.type ?? '');
      if (!allowedTypes.includes(type)) {
        ok = false;
        badTypes.add(type);
      }
      if (o.user) {
        ok = false;
        setUser = true;
      }
      if (o.role) {
        ok = false;
        setRole = true;
      }
      return ok;
    };
    const podOpts = podSc(spec)?.seLinuxOptions;
    const podBad = !!podOpts && !valid(podOpts);
    const bad = containersOf(spec).filter(c => sc(c)?.seLinuxOptions && !valid(sc(c)!.seLinuxOptions)).map(c => c.name as string);
    const badSetters = setters(podBad, bad);
    if (!badSetters.length) return undefined;
    const data: string[] = [];
    if (badTypes.size) data.push(`${pluralize('type', 'types', badTypes.size)} ${joinQuote(sortedUnique(badTypes))}`);
    if (setUser) data.push('user may not be set');
    if (setRole) data.push('role may not be set');
    return { reason: 'seLinuxOptions', detail: `${badSetters.join(' and ')} set forbidden securityContext.seLinuxOptions: ${data.join('; ')}` };
  };
}

const validSeccomp = (t: unknown) => t === 'RuntimeDefault' || t === 'Localhost';

const seccompBaselineAnnotations: CheckFn = (meta, spec) => {
  const ann = (meta.annotations ?? {}) as Record<string, string>;
  const ok = (v: string) => v === 'runtime/default' || v === 'docker/default' || v.startsWith('localhost/');
  const forbidden = new Set<string>();
  const podKey = 'seccomp.security.alpha.kubernetes.io/pod';
  if (podKey in ann && !ok(ann[podKey])) forbidden.add(`${podKey}=${JSON.stringify(ann[podKey])}`);
  for (const c of containersOf(spec)) {
    const key = `container.seccomp.security.alpha.kubernetes.io/${c.name}`;
    if (key in ann && !ok(ann[key])) forbidden.add(`${key}=${JSON.stringify(ann[key])}`);
  }
  if (!forbidden.size) return undefined;
  return { reason: 'seccompProfile', detail: `forbidden ${pluralize('annotation', 'annotations', forbidden.size)} ${sortedUnique(forbidden).join(', ')}` };
};

/** Shared by seccompProfile_baseline (1.19+) and _restricted: explicit bad values; `required` also flags unset ones. */
function seccompFields(required: boolean): CheckFn {
  return (_meta, spec) => {
    const badValues = new Set<string>();
    const pod = podSc(spec)?.seccompProfile;
    const podBad = !!pod && !validSeccomp(pod.type);
    if (podBad) badValues.add(String(pod.type ?? ''));
    const podSet = !!pod && !podBad;
    const explicit: string[] = [];
    const implicit: string[] = [];
    for (const c of containersOf(spec)) {
      const p = sc(c)?.seccompProfile;
      if (p) {
        if (!validSeccomp(p.type)) {
          explicit.push(c.name);
          badValues.add(String(p.type ?? ''));
        }
      } else if (!podSet) implicit.push(c.name);
    }
    const badSetters = setters(podBad, explicit);
    if (badSetters.length) {
      return { reason: 'seccompProfile', detail: `${badSetters.join(' and ')} must not set securityContext.seccompProfile.type to ${joinQuote(sortedUnique(badValues))}` };
    }
    if (required && implicit.length) {
      return { reason: 'seccompProfile', detail: `pod or ${containersPhrase(implicit)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"` };
    }
    return undefined;
  };
}

function sysctls(allowed: Set<string>): CheckFn {
  return (_meta, spec) => {
    const bad = ((podSc(spec)?.sysctls ?? []) as AnyObj[]).map(s => String(s?.name ?? '')).filter(n => !allowed.has(n));
    return bad.length ? { reason: 'forbidden sysctls', detail: bad.join(', ') } : undefined;
  };
}

const SYSCTLS_1_0 = new Set(['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_unprivileged_port_start']);
const SYSCTLS_1_27 = new Set([...SYSCTLS_1_0, 'net.ipv4.ip_local_reserved_ports']);
const SYSCTLS_1_29 = new Set([...SYSCTLS_1_27, 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes']);
const SYSCTLS_1_32 = new Set([...SYSCTLS_1_29, 'net.ipv4.tcp_rmem', 'net.ipv4.tcp_wmem']);

const windowsHostProcess: CheckFn = (_meta, spec) => {
  const bad = containersOf(spec).filter(c => sc(c)?.windowsOptions?.hostProcess === true).map(c => c.name as string);
  const badSetters = setters(podSc(spec)?.windowsOptions?.hostProcess === true, bad);
  return badSetters.length ? { reason: 'hostProcess', detail: `${badSetters.join(' and ')} must not set securityContext.windowsOptions.hostProcess=true` } : undefined;
};

const allowPrivilegeEscalation: CheckFn = (_meta, spec) => {
  const bad = containersOf(spec).filter(c => sc(c)?.allowPrivilegeEscalation !== false).map(c => c.name as string);
  return bad.length ? { reason: 'allowPrivilegeEscalation != false', detail: `${containersPhrase(bad)} must set securityContext.allowPrivilegeEscalation=false` } : undefined;
};

const capabilitiesRestricted: CheckFn = (_meta, spec) => {
  const missingDrop: string[] = [];
  const adding: string[] = [];
  const forbidden = new Set<string>();
  for (const c of containersOf(spec)) {
    const caps = sc(c)?.capabilities;
    if (!caps) {
      missingDrop.push(c.name);
      continue;
    }
    if (!((caps.drop ?? []) as string[]).includes('ALL')) missingDrop.push(c.name);
    const bad = ((caps.add ?? []) as string[]).filter(a => a !== 'NET_BIND_SERVICE');
    if (bad.length) {
      adding.push(c.name);
      bad.forEach(a => forbidden.add(a));
    }
  }
  const details: string[] = [];
  if (missingDrop.length) details.push(`${containersPhrase(missingDrop)} must set securityContext.capabilities.drop=["ALL"]`);
  if (adding.length) details.push(`${containersPhrase(adding)} must not include ${joinQuote(sortedUnique(forbidden))} in securityContext.capabilities.add`);
  return details.length ? { reason: 'unrestricted capabilities', detail: details.join('; ') } : undefined;
};

/** Volume sources in the order upstream names the first restricted type of a volume. */
const RESTRICTED_VOLUME_SOURCES = [
  'hostPath', 'gcePersistentDisk', 'awsElasticBlockStore', 'gitRepo', 'nfs', 'iscsi', 'glusterfs', 'rbd', 'flexVolume', 'cinder', 'cephfs',
  'flocker', 'fc', 'azureFile', 'vsphereVolume', 'quobyte', 'azureDisk', 'photonPersistentDisk', 'portworxVolume', 'scaleIO', 'storageos',
];
const ALLOWED_VOLUME_SOURCES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];

const restrictedVolumes: CheckFn = (_meta, spec) => {
  const bad: string[] = [];
  const types = new Set<string>();
  for (const v of (spec.volumes ?? []) as AnyObj[]) {
    if (!v || typeof v !== 'object') continue;
    if (ALLOWED_VOLUME_SOURCES.some(k => v[k])) continue;
    bad.push(v.name);
    types.add(RESTRICTED_VOLUME_SOURCES.find(k => v[k]) ?? 'unknown');
  }
  if (!bad.length) return undefined;
  const list = sortedUnique(types);
  return {
    reason: 'restricted volume types',
    detail: `${pluralize('volume', 'volumes', bad.length)} ${joinQuote(bad)} ${pluralize('uses', 'use', bad.length)} ${pluralize('restricted volume type', 'restricted volume types', list.length)} ${joinQuote(list)}`,
  };
};

const runAsNonRoot: CheckFn = (_meta, spec) => {
  const podValue = podSc(spec)?.runAsNonRoot;
  const podBad = podValue === false;
  const podTrue = podValue === true;
  const explicit: string[] = [];
  const implicit: string[] = [];
  for (const c of containersOf(spec)) {
    const v = sc(c)?.runAsNonRoot;
    if (v !== undefined && v !== null) {
      if (v === false) explicit.push(c.name);
    } else if (!podTrue) implicit.push(c.name);
  }
  const badSetters = setters(podBad, explicit);
  if (badSetters.length) return { reason: 'runAsNonRoot != true', detail: `${badSetters.join(' and ')} must not set securityContext.runAsNonRoot=false` };
  if (implicit.length) return { reason: 'runAsNonRoot != true', detail: `pod or ${containersPhrase(implicit)} must set securityContext.runAsNonRoot=true` };
  return undefined;
};

const runAsUser: CheckFn = (_meta, spec) => {
  const bad = containersOf(spec).filter(c => sc(c)?.runAsUser === 0).map(c => c.name as string);
  const badSetters = setters(podSc(spec)?.runAsUser === 0, bad);
  return badSetters.length ? { reason: 'runAsUser=0', detail: `${badSetters.join(' and ')} must not set runAsUser=0` } : undefined;
};

/** Since policy 1.25 some restricted checks do not apply to Windows pods (spec.os.name). */
function exceptWindows(fn: CheckFn): CheckFn {
  return (meta, spec) => (isWindows(spec) ? undefined : fn(meta, spec));
}

const CHECKS: Check[] = [
  { id: 'appArmorProfile', level: 'baseline', versions: [{ min: 0, fn: appArmorProfile }] },
  { id: 'capabilities_baseline', level: 'baseline', versions: [{ min: 0, fn: capabilitiesBaseline }] },
  { id: 'hostNamespaces', level: 'baseline', versions: [{ min: 0, fn: hostNamespaces }] },
  { id: 'hostPathVolumes', level: 'baseline', versions: [{ min: 0, fn: hostPathVolumes }] },
  { id: 'hostPorts', level: 'baseline', versions: [{ min: 0, fn: hostPorts }] },
  { id: 'privileged', level: 'baseline', versions: [{ min: 0, fn: privileged }] },
  { id: 'procMount', level: 'baseline', versions: [{ min: 0, fn: procMount }] },
  {
    id: 'seLinuxOptions',
    level: 'baseline',
    versions: [
      { min: 0, fn: seLinuxOptions(['', 'container_t', 'container_init_t', 'container_kvm_t']) },
      { min: 31, fn: seLinuxOptions(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']) },
    ],
  },
  {
    id: 'seccompProfile_baseline',
    level: 'baseline',
    versions: [
      { min: 0, fn: seccompBaselineAnnotations },
      { min: 19, fn: seccompFields(false) },
    ],
  },
  {
    id: 'sysctls',
    level: 'baseline',
    versions: [
      { min: 0, fn: sysctls(SYSCTLS_1_0) },
      { min: 27, fn: sysctls(SYSCTLS_1_27) },
      { min: 29, fn: sysctls(SYSCTLS_1_29) },
      { min: 32, fn: sysctls(SYSCTLS_1_32) },
    ],
  },
  { id: 'windowsHostProcess', level: 'baseline', versions: [{ min: 0, fn: windowsHostProcess }] },
  {
    id: 'allowPrivilegeEscalation',
    level: 'restricted',
    versions: [
      { min: 8, fn: allowPrivilegeEscalation },
      { min: 25, fn: exceptWindows(allowPrivilegeEscalation) },
    ],
  },
  {
    id: 'capabilities_restricted',
    level: 'restricted',
    versions: [
      { min: 22, fn: capabilitiesRestricted, overrides: ['capabilities_baseline'] },
      { min: 25, fn: exceptWindows(capabilitiesRestricted), overrides: ['capabilities_baseline'] },
    ],
  },
  { id: 'restrictedVolumes', level: 'restricted', versions: [{ min: 0, fn: restrictedVolumes, overrides: ['hostPathVolumes'] }] },
  { id: 'runAsNonRoot', level: 'restricted', versions: [{ min: 0, fn: runAsNonRoot }] },
  { id: 'runAsUser', level: 'restricted', versions: [{ min: 23, fn: runAsUser }] },
  {
    id: 'seccompProfile_restricted',
    level: 'restricted',
    versions: [
      { min: 19, fn: seccompFields(true), overrides: ['seccompProfile_baseline'] },
      { min: 25, fn: exceptWindows(seccompFields(true)), overrides: ['seccompProfile_baseline'] },
    ],
  },
];

/** Baseline IDs sorted, then restricted IDs sorted: the order of the reported controls. */
const ORDERED = [...CHECKS.filter(c => c.level === 'baseline').sort(byId), ...CHECKS.filter(c => c.level === 'restricted').sort(byId)];

function byId(a: Check, b: Check): number {
  if (a.id === b.id) return 0;
  return a.id < b.id ? -1 : 1;
}

function versionFor(check: Check, minor: number): VersionedCheck | undefined {
  let found: VersionedCheck | undefined;
  for (const v of check.versions) if (v.min <= minor) found = v;
  return found;
}

/** The violations of one pod (metadata + spec) against a level and version, in the apiserver's order. */
export function evaluatePod(lv: LevelVersion, meta: AnyObj, spec: AnyObj): Violation[] {
  if (lv.level === 'privileged') return [];
  const minor = lv.minor ?? Number.MAX_SAFE_INTEGER;
  const chosen = new Map<string, VersionedCheck>();
  for (const c of ORDERED) {
    if (c.level === 'restricted' && lv.level !== 'restricted') continue;
    const v = versionFor(c, minor);
    if (v) chosen.set(c.id, v);
  }
  if (lv.level === 'restricted') for (const v of [...chosen.values()]) for (const o of v.overrides ?? []) chosen.delete(o);
  const out: Violation[] = [];
  for (const c of ORDERED) {
    const v = chosen.get(c.id);
    const r = v?.fn(meta ?? {}, spec ?? {});
    if (r) out.push(r);
  }
  return out;
}

/** "reason (detail), reason (detail)" */
export function forbiddenDetail(violations: Violation[]): string {
  return violations.map(v => (v.detail ? `${v.reason} (${v.detail})` : v.reason)).join(', ');
}

// ---------------------------------------------------------------------------------------------
// Admission
// ---------------------------------------------------------------------------------------------

export interface AdmissionResult {
  /** set when enforce rejects the request */
  error?: ApiError;
  warnings: string[];
  /** audit annotations (`pod-security.kubernetes.io/…`) */
  annotations: Record<string, string>;
}

/** Pod template (metadata + spec) of a workload, as the upstream PodSpecExtractor finds it. */
export function podTemplateOf(resource: string, obj: KObj): { meta: AnyObj; spec: AnyObj } | undefined {
  const template = resource === 'cronjobs' ? obj.spec?.jobTemplate?.spec?.template : obj.spec?.template;
  if (!template || typeof template !== 'object') return undefined;
  return { meta: template.metadata ?? {}, spec: template.spec ?? {} };
}

export const POD_CONTROLLER_RESOURCES = new Set(['deployments', 'replicasets', 'statefulsets', 'daemonsets', 'jobs', 'cronjobs', 'replicationcontrollers', 'podtemplates']);

export interface ReviewRequest {
  group: string;
  resource: string;
  subresource: string;
  /** the object being created, or the updated object */
  obj: KObj;
  /** the stored object on update */
  old?: KObj;
  user: string;
  namespaceLabels: (namespace: string) => Record<string, string> | undefined;
  pods: (namespace: string) => KObj[];
}

export class PodSecurityAdmission {
  constructor(private readonly exemptions: PodSecurityExemptions = {}) {}

  /**
   * The decision for a create or update: namespaces (label validation, warnings about existing
   * pods), pods (enforce, warn, audit) and pod controllers' templates (warn and audit only).
   * Throws a namespace's 422; returns a pod's 403 (`error`) with the audit annotations, which the
   * apiserver records for rejected requests too.
   */
  review(req: ReviewRequest): AdmissionResult {
    const none = { warnings: [], annotations: {} };
    const { obj, old } = req;
    if (req.group === '' && req.resource === 'namespaces') {
      if (req.subresource) return none;
      const name = obj.metadata.name!;
      return { warnings: this.admitNamespace(name, obj.metadata.labels, old ? old.metadata.labels : null, old ? req.pods(name) : []), annotations: {} };
    }
    const namespace = obj.metadata.namespace ?? '';
    const base = { group: req.group, resource: req.resource, name: obj.metadata.name ?? '', namespace, user: req.user };
    if (req.group === '' && req.resource === 'pods') {
      if (req.subresource) return none; // status, exec, … are not evaluated
      if (old && !significantPodUpdate(obj, old)) return none;
      return this.admit({ ...base, namespaceLabels: req.namespaceLabels(namespace), meta: obj.metadata, spec: obj.spec ?? {}, enforce: true });
    }
    if (!POD_CONTROLLER_RESOURCES.has(req.resource) || req.subresource) return none;
    const template = podTemplateOf(req.resource, obj);
    if (!template) return none;
    return this.admit({ ...base, namespaceLabels: req.namespaceLabels(namespace), ...template, enforce: false });
  }

  private exemption(namespace: string, user: string): string | undefined {
    if (namespace && this.exemptions.namespaces?.includes(namespace)) return 'namespace';
    if (user && this.exemptions.usernames?.includes(user)) return 'user';
    return undefined;
  }

  /**
   * A pod (enforce=true) or a pod controller's template (warn and audit only) being created or
   * changed in a namespace with these labels.
   */
  admit(opts: {
    group: string;
    resource: string;
    name: string;
    namespace: string;
    namespaceLabels: Record<string, string> | undefined;
    user: string;
    meta: AnyObj;
    spec: AnyObj;
    enforce: boolean;
  }): AdmissionResult {
    const exempt = this.exemption(opts.namespace, opts.user);
    if (exempt) return { warnings: [], annotations: { [EXEMPT]: exempt } };
    const { policy, errors: labelErrors } = policyFromLabels(opts.namespaceLabels);
    const annotations: Record<string, string> = {};
    const result: AdmissionResult = { warnings: [], annotations };
    if (!labelErrors.length && policy.warn.level === 'privileged' && policy.audit.level === 'privileged' && (!opts.enforce || policy.enforce.level === 'privileged')) {
      return result;
    }
    const runtimeClass = opts.spec?.runtimeClassName;
    if (runtimeClass && this.exemptions.runtimeClasses?.includes(runtimeClass)) return { warnings: [], annotations: { [EXEMPT]: 'runtimeClass' } };
    if (labelErrors.length) {
      annotations.error = `Failed to parse policy: ${aggregate(labelErrors.map(labelErrorText))}`;
    }
    const cache = new Map<string, Violation[]>();
    const evaluate = (lv: LevelVersion) => {
      const key = levelVersionString(lv);
      if (!cache.has(key)) cache.set(key, evaluatePod(lv, opts.meta, opts.spec));
      return cache.get(key)!;
    };
    if (opts.enforce) {
      annotations[ENFORCE_POLICY] = levelVersionString(policy.enforce);
      const v = evaluate(policy.enforce);
      if (v.length) {
        result.error = errors.forbidden(opts.group, opts.resource, opts.name, `violates PodSecurity "${levelVersionString(policy.enforce)}": ${forbiddenDetail(v)}`);
      }
    }
    const audit = evaluate(policy.audit);
    if (audit.length) annotations[AUDIT_VIOLATIONS] = `would violate PodSecurity "${levelVersionString(policy.audit)}": ${forbiddenDetail(audit)}`;
    if (!result.error) {
      const warn = evaluate(policy.warn);
      if (warn.length) result.warnings.push(`would violate PodSecurity "${levelVersionString(policy.warn)}": ${forbiddenDetail(warn)}`);
    }
    return result;
  }

  /**
   * A namespace create or update: invalid labels are a 422 (on update only if they changed); a
   * stricter enforce level returns warnings for the existing pods that would violate it.
   */
  admitNamespace(name: string, labels: Record<string, string> | undefined, oldLabels: Record<string, string> | undefined | null, pods: KObj[]): string[] {
    const next = policyFromLabels(labels);
    if (oldLabels === null) {
      if (next.errors.length) throw invalidLabels(name, next.errors);
      return [];
    }
    const prev = policyFromLabels(oldLabels);
    if (next.errors.length && (!prev.errors.length || JSON.stringify(next.errors) !== JSON.stringify(prev.errors))) throw invalidLabels(name, next.errors);
    const ne = next.policy.enforce;
    const oe = prev.policy.enforce;
    if (ne.level === oe.level && ne.minor === oe.minor) return [];
    if (ne.level === 'privileged') return [];
    if (ne.minor === oe.minor && LEVELS.indexOf(ne.level) <= LEVELS.indexOf(oe.level)) return [];
    if (this.exemptions.namespaces?.includes(name)) return [];
    return podWarnings(name, ne, pods, this.exemptions.runtimeClasses ?? []);
  }
}

/** isSignificantPodUpdate: only image and seccomp annotation changes (the mutable parts) are evaluated. */
function significantPodUpdate(pod: KObj, old: KObj): boolean {
  const ann = pod.metadata.annotations ?? {};
  const oldAnn = old.metadata.annotations ?? {};
  if (ann['seccomp.security.alpha.kubernetes.io/pod'] !== oldAnn['seccomp.security.alpha.kubernetes.io/pod']) return true;
  for (const list of ['containers', 'initContainers', 'ephemeralContainers']) {
    const a: AnyObj[] = pod.spec?.[list] ?? [];
    const b: AnyObj[] = old.spec?.[list] ?? [];
    if (a.length !== b.length) return true;
    for (let i = 0; i < a.length; i++) {
      const key = `container.seccomp.security.alpha.kubernetes.io/${a[i]?.name}`;
      if (a[i]?.image !== b[i]?.image || ann[key] !== oldAnn[key]) return true;
    }
  }
  return false;
}

const MAX_PODS_TO_CHECK = 3000;

function podWarnings(namespace: string, enforce: LevelVersion, pods: KObj[], exemptRuntimeClasses: string[]): string[] {
  // upstream checks pods from distinct controllers first; kube-sim has few pods, so all of them (sorted by name)
  const sorted = [...pods].sort((a, b) => (a.metadata.name! < b.metadata.name! ? -1 : 1)).filter(p => !exemptRuntimeClasses.includes(p.spec?.runtimeClassName));
  const checked = sorted.slice(0, MAX_PODS_TO_CHECK);
  const byWarning = new Map<string, { first: string; count: number }>();
  for (const pod of checked) {
    const v = evaluatePod(enforce, pod.metadata, pod.spec ?? {});
    if (!v.length) continue;
    const warning = v.map(x => x.reason).join(', ');
    const c = byWarning.get(warning);
    if (!c) byWarning.set(warning, { first: pod.metadata.name!, count: 1 });
    else {
      c.count++;
      if (pod.metadata.name! < c.first) c.first = pod.metadata.name!;
    }
  }
  const out: string[] = [];
  if (checked.length < sorted.length) out.push(`new PodSecurity enforce level only checked against the first ${checked.length} of ${sorted.length} existing pods`);
  if (byWarning.size) out.push(`existing pods in namespace "${namespace}" violate the new PodSecurity enforce level "${levelVersionString(enforce)}"`);
  const decorated = [...byWarning.entries()].map(([warning, c]) => {
    if (c.count === 1) return `${c.first}: ${warning}`;
    if (c.count === 2) return `${c.first} (and 1 other pod): ${warning}`;
    return `${c.first} (and ${c.count - 1} other pods): ${warning}`;
  });
  return [...out, ...decorated.sort()];
}

function labelErrorText(e: LabelError): string {
  return `metadata.labels[${e.label}]: Invalid value: ${JSON.stringify(e.value)}: ${e.message}`;
}

/** utilerrors.NewAggregate(...).Error(): one message, or `[a, b]`. */
function aggregate(msgs: string[]): string {
  return msgs.length === 1 ? msgs[0] : `[${msgs.join(', ')}]`;
}

function invalidLabels(name: string, errs: LabelError[]): ApiError {
  return errors.invalid(
    '',
    'Namespace',
    name,
    errs.map(e => ({ field: `metadata.labels[${e.label}]`, message: `Invalid value: ${JSON.stringify(e.value)}: ${e.message}` })),
  );
}
