/** Name validation with the apiserver's messages (k8s.io/apimachinery/pkg/util/validation). */
import { configObjectCauses } from './configObjects';
import type { ResourceType } from './resources';
import { errors } from './status';
import type { KObj } from './types';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function dns1123LabelErrors(v: string): string[] {
  const errs: string[] = [];
  if (v.length > 63) errs.push('must be no more than 63 characters');
  if (!DNS1123_LABEL.test(v)) {
    errs.push("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')");
  }
  return errs;
}

export function dns1123SubdomainErrors(v: string): string[] {
  const errs: string[] = [];
  if (v.length > 253) errs.push('must be no more than 253 characters');
  if (!DNS1123_SUBDOMAIN.test(v)) {
    errs.push("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
  }
  return errs;
}

type Cause = { field: string; message: string; reason?: string };

const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** validation.IsQualifiedName (label and annotation keys). */
export function qualifiedNameErrors(key: string): string[] {
  const parts = key.split('/');
  let name = key;
  const errs: string[] = [];
  if (parts.length > 2) {
    return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"];
  }
  if (parts.length === 2) {
    const [prefix, n] = parts;
    name = n;
    if (!prefix) errs.push('prefix part must be non-empty');
    else for (const e of dns1123SubdomainErrors(prefix)) errs.push(`prefix part ${e}`);
  }
  if (!name) errs.push('name part must be non-empty');
  else if (name.length > 63) errs.push('name part must be no more than 63 characters');
  if (name && !QUALIFIED_NAME_PART.test(name)) {
    errs.push("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
  }
  return errs;
}

export function labelValueErrors(v: string): string[] {
  const errs: string[] = [];
  if (v.length > 63) errs.push('must be no more than 63 characters');
  if (!LABEL_VALUE.test(v)) {
    errs.push("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");
  }
  return errs;
}

/** metadata.labels and annotation keys, as ValidateObjectMeta checks them. */
function metaCauses(obj: KObj): Cause[] {
  const causes: Cause[] = [];
  for (const [k, v] of Object.entries(obj.metadata.labels ?? {})) {
    for (const e of qualifiedNameErrors(k)) causes.push({ field: 'metadata.labels', message: `Invalid value: "${k}": ${e}` });
    if (typeof v !== 'string') causes.push({ field: 'metadata.labels', message: `Invalid value: "${String(v)}": must be a string` });
    else for (const e of labelValueErrors(v)) causes.push({ field: 'metadata.labels', message: `Invalid value: "${v}": ${e}` });
  }
  for (const k of Object.keys(obj.metadata.annotations ?? {})) {
    for (const e of qualifiedNameErrors(k.toLowerCase())) causes.push({ field: 'metadata.annotations', message: `Invalid value: "${k}": ${e}` });
  }
  return causes;
}

const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];
const ACCESS_MODES = ['ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOnce', 'ReadWriteOncePod'];

function podSpecCauses(spec: Record<string, any>): Cause[] { // eslint-disable-line @typescript-eslint/no-explicit-any
  const causes: Cause[] = [];
  const volumes: Array<{ name?: string }> = spec.volumes ?? [];
  const volumeNames = new Set<string>();
  volumes.forEach((v, i) => {
    if (!v.name) causes.push({ field: `spec.volumes[${i}].name`, message: 'Required value', reason: 'FieldValueRequired' });
    else if (volumeNames.has(v.name)) causes.push({ field: `spec.volumes[${i}].name`, message: `Duplicate value: "${v.name}"`, reason: 'FieldValueDuplicate' });
    else {
      for (const e of dns1123LabelErrors(v.name)) causes.push({ field: `spec.volumes[${i}].name`, message: `Invalid value: "${v.name}": ${e}` });
      volumeNames.add(v.name);
    }
  });
  const containers: Array<Record<string, any>> = spec.containers ?? []; // eslint-disable-line @typescript-eslint/no-explicit-any
  if (containers.length === 0) causes.push({ field: 'spec.containers', message: 'Required value', reason: 'FieldValueRequired' });
  const containerNames = new Set<string>();
  containers.forEach((c, i) => {
    const f = `spec.containers[${i}]`;
    if (!c.name) causes.push({ field: `${f}.name`, message: 'Required value', reason: 'FieldValueRequired' });
    else if (containerNames.has(c.name)) causes.push({ field: `${f}.name`, message: `Duplicate value: "${c.name}"`, reason: 'FieldValueDuplicate' });
    else {
      for (const e of dns1123LabelErrors(c.name)) causes.push({ field: `${f}.name`, message: `Invalid value: "${c.name}": ${e}` });
      containerNames.add(c.name);
    }
    if (!c.image) causes.push({ field: `${f}.image`, message: 'Required value', reason: 'FieldValueRequired' });
    const mountPaths = new Set<string>();
    ((c.volumeMounts ?? []) as Array<{ name?: string; mountPath?: string }>).forEach((m, j) => {
      const mf = `${f}.volumeMounts[${j}]`;
      if (!m.name) causes.push({ field: `${mf}.name`, message: 'Required value', reason: 'FieldValueRequired' });
      else if (!volumeNames.has(m.name)) causes.push({ field: `${mf}.name`, message: `Not found: "${m.name}"`, reason: 'FieldValueNotFound' });
      if (!m.mountPath) causes.push({ field: `${mf}.mountPath`, message: 'Required value', reason: 'FieldValueRequired' });
      else if (mountPaths.has(m.mountPath)) causes.push({ field: `${mf}.mountPath`, message: `Invalid value: "${m.mountPath}": must be unique` });
      else mountPaths.add(m.mountPath);
    });
  });
  if (spec.restartPolicy !== undefined && !RESTART_POLICIES.includes(spec.restartPolicy)) {
    causes.push({ field: 'spec.restartPolicy', message: `Unsupported value: "${spec.restartPolicy}": supported values: "Always", "OnFailure", "Never"`, reason: 'FieldValueNotSupported' });
  }
  const ads = spec.activeDeadlineSeconds;
  if (ads !== undefined && ads !== null && (!Number.isInteger(ads) || ads < 1 || ads > 2147483647)) {
    causes.push({ field: 'spec.activeDeadlineSeconds', message: `Invalid value: ${ads}: must be between 1 and 2147483647, inclusive` });
  }
  return causes;
}

/** Validates what the apiserver validates on update and patch (metadata); throws 422 Invalid. */
export function validateForUpdate(type: ResourceType, obj: KObj): void {
  const causes = metaCauses(obj);
  if (causes.length) throw errors.invalid(type.group, type.kind, obj.metadata.name ?? '', causes);
}

/**
 * Validates the name, labels and annotations of any object, and the parts of pods and claims
 * that clients most often get wrong; throws 422 Invalid with the apiserver's messages.
 */
export function validateForCreate(type: ResourceType, obj: KObj): void {
  const name = obj.metadata.name ?? '';
  const causes: Cause[] = [];
  if (!name) {
    causes.push({ field: 'metadata.name', message: 'Required value: name or generateName is required', reason: 'FieldValueRequired' });
  } else {
    const errs = type.nameIsLabel ? dns1123LabelErrors(name) : dns1123SubdomainErrors(name);
    for (const e of errs) causes.push({ field: 'metadata.name', message: `Invalid value: "${name}": ${e}` });
  }
  causes.push(...metaCauses(obj));
  if (type.resource === 'pods') causes.push(...podSpecCauses(obj.spec ?? {}));
  causes.push(...configObjectCauses(type, obj));
  if (type.resource === 'persistentvolumeclaims') {
    const modes: string[] = obj.spec?.accessModes ?? [];
    if (!modes.length) causes.push({ field: 'spec.accessModes', message: 'Required value: at least 1 access mode is required', reason: 'FieldValueRequired' });
    for (const m of modes) {
      if (!ACCESS_MODES.includes(m)) {
        causes.push({ field: 'spec.accessModes', message: `Unsupported value: "${m}": supported values: "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"`, reason: 'FieldValueNotSupported' });
      }
    }
    if (modes.includes('ReadWriteOncePod') && modes.length > 1) {
      causes.push({ field: 'spec.accessModes', message: `Forbidden: may not use ReadWriteOncePod with other access modes`, reason: 'FieldValueForbidden' });
    }
    if (!obj.spec?.resources?.requests?.storage) causes.push({ field: 'spec.resources[storage]', message: 'Required value', reason: 'FieldValueRequired' });
  }
  if (causes.length) throw errors.invalid(type.group, type.kind, name, causes);
}
