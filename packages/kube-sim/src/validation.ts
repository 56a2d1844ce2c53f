/** Name validation with the apiserver's messages (k8s.io/apimachinery/pkg/util/validation). */
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

/** Validates metadata.name and the few spec fields kube-sim relies on; throws 422 Invalid. */
export function validateForCreate(type: ResourceType, obj: KObj): void {
  const name = obj.metadata.name ?? '';
  const causes: Array<{ field: string; message: string; reason?: string }> = [];
  if (!name) {
    causes.push({ field: 'metadata.name', message: 'Required value: name or generateName is required', reason: 'FieldValueRequired' });
  } else {
    const errs = type.nameIsLabel ? dns1123LabelErrors(name) : dns1123SubdomainErrors(name);
    for (const e of errs) causes.push({ field: 'metadata.name', message: `Invalid value: "${name}": ${e}` });
  }
  if (type.resource === 'pods') {
    const containers: Array<{ name?: string; image?: string }> = obj.spec?.containers ?? [];
    if (containers.length === 0) causes.push({ field: 'spec.containers', message: 'Required value', reason: 'FieldValueRequired' });
    containers.forEach((c, i) => {
      if (!c.name) causes.push({ field: `spec.containers[${i}].name`, message: 'Required value', reason: 'FieldValueRequired' });
      else for (const e of dns1123LabelErrors(c.name)) causes.push({ field: `spec.containers[${i}].name`, message: `Invalid value: "${c.name}": ${e}` });
      if (!c.image) causes.push({ field: `spec.containers[${i}].image`, message: 'Required value', reason: 'FieldValueRequired' });
    });
  }
  if (type.resource === 'persistentvolumeclaims') {
    if (!(obj.spec?.accessModes ?? []).length) causes.push({ field: 'spec.accessModes', message: 'Required value: at least 1 access mode is required', reason: 'FieldValueRequired' });
    if (!obj.spec?.resources?.requests?.storage) causes.push({ field: 'spec.resources[storage]', message: 'Required value', reason: 'FieldValueRequired' });
  }
  if (causes.length) throw errors.invalid(type.group, type.kind, name, causes);
}
