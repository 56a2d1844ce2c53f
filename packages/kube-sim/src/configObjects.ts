/**
 * Secrets and ConfigMaps as the apiserver treats them (pkg/apis/core/validation, the Secret
 * REST strategy): `data` must be base64 (a 400 at decoding, like the JSON decoder), `stringData`
 * is merged into `data` on every write and never stored, `type` defaults to `Opaque` and cannot
 * change, keys must be valid config keys, and `immutable: true` freezes the contents.
 */
import type { ResourceType } from './resources';
import { errors } from './status';
import type { KObj } from './types';

type Cause = { field: string; message: string; reason?: string };

export const SERVICE_ACCOUNT_TOKEN_TYPE = 'kubernetes.io/service-account-token';
export const SERVICE_ACCOUNT_NAME_KEY = 'kubernetes.io/service-account.name';
export const SERVICE_ACCOUNT_UID_KEY = 'kubernetes.io/service-account.uid';
/** core.MaxSecretSize, also the limit for a ConfigMap's total size */
const MAX_SIZE = 1024 * 1024;
const IMMUTABLE_MSG = 'Forbidden: field is immutable when `immutable` is set';
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;

/** validation.IsConfigMapKey */
export function configKeyErrors(key: string): string[] {
  const errs: string[] = [];
  if (key.length > 253) errs.push('must be no more than 253 characters');
  if (!CONFIG_KEY.test(key)) {
    errs.push("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')");
  }
  if (key === '.') errs.push("must not be '.'");
  else if (key === '..') errs.push("must not be '..'");
  else if (key.startsWith('..')) errs.push("must not start with '..'");
  return errs;
}

/**
 * The offset Go's base64.StdEncoding reports for invalid input (`illegal base64 data at input
 * byte N`), or -1 when the string decodes. Newlines are skipped, as Go does.
 */
export function base64ErrorOffset(s: string): number {
  let j = 0; // position inside the current 4-character quantum
  let quantumStart = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === '\n' || ch === '\r') continue;
    if (ch === '=') {
      // padding is only valid as the last one or two characters of a complete quantum
      if (j < 2) return i;
      const rest = s.slice(i).replace(/[\r\n]/g, '');
      const expected = j === 2 ? '==' : '=';
      if (!rest.startsWith(expected)) return i + (j === 2 ? 1 : 0);
      if (rest.length > expected.length) return i + expected.length;
      return -1;
    }
    if (!/[A-Za-z0-9+/]/.test(ch)) return i;
    if (j === 0) quantumStart = i;
    j = (j + 1) % 4;
  }
  return j === 0 ? -1 : quantumStart;
}

function decodeError(kind: string, detail: string): Error {
  return errors.badRequest(`${kind} in version "v1" cannot be handled as a ${kind}: ${detail}`);
}

/** Checks what the JSON decoder checks: string maps, and base64 values where the field is []byte. */
function checkMap(kind: string, m: unknown, base64: boolean): Record<string, string> | undefined {
  if (m === undefined || m === null) return undefined;
  if (typeof m !== 'object' || Array.isArray(m)) throw decodeError(kind, 'json: cannot unmarshal into map[string]');
  for (const v of Object.values(m as Record<string, unknown>)) {
    if (typeof v !== 'string') throw decodeError(kind, `json: cannot unmarshal ${typeof v} into Go value of type ${base64 ? '[]uint8' : 'string'}`);
    if (base64) {
      const at = base64ErrorOffset(v);
      if (at >= 0) throw decodeError(kind, `illegal base64 data at input byte ${at}`);
    }
  }
  return m as Record<string, string>;
}

function sizeOf(m: Record<string, string> | undefined, base64: boolean): number {
  let n = 0;
  for (const v of Object.values(m ?? {})) n += base64 ? Buffer.from(v, 'base64').length : Buffer.byteLength(v);
  return n;
}

/**
 * Decoding and defaulting for a Secret or ConfigMap on create, update and patch: validates the
 * encodings (400), merges `stringData` into `data` and drops it, defaults a Secret's `type`.
 */
export function normalizeConfigObject(type: ResourceType, obj: KObj): void {
  if (type.group !== '') return;
  if (type.resource === 'secrets') {
    const data = checkMap('Secret', obj.data, true);
    const stringData = checkMap('Secret', obj.stringData, false);
    if (stringData) {
      const merged: Record<string, string> = { ...(data ?? {}) };
      for (const [k, v] of Object.entries(stringData)) merged[k] = Buffer.from(v, 'utf8').toString('base64');
      obj.data = merged;
    }
    delete obj.stringData;
    if (!obj.data || !Object.keys(obj.data as object).length) delete obj.data;
    if (!obj.type) obj.type = 'Opaque';
  } else if (type.resource === 'configmaps') {
    checkMap('ConfigMap', obj.data, false);
    checkMap('ConfigMap', obj.binaryData, true);
  }
}

function keyCauses(field: string, m: Record<string, string> | undefined): Cause[] {
  const causes: Cause[] = [];
  for (const key of Object.keys(m ?? {}).sort()) {
    for (const e of configKeyErrors(key)) causes.push({ field: `${field}[${key}]`, message: `Invalid value: "${key}": ${e}` });
  }
  return causes;
}

/** ValidateSecret / ValidateConfigMap (beyond ObjectMeta), for create and update. */
export function configObjectCauses(type: ResourceType, obj: KObj): Cause[] {
  if (type.group !== '') return [];
  const causes: Cause[] = [];
  if (type.resource === 'secrets') {
    const data = obj.data as Record<string, string> | undefined;
    causes.push(...keyCauses('data', data));
    if (sizeOf(data, true) > MAX_SIZE) causes.push({ field: 'data', message: `Too long: may not be more than ${MAX_SIZE} bytes`, reason: 'FieldValueTooLong' });
    if (obj.type === SERVICE_ACCOUNT_TOKEN_TYPE && !obj.metadata.annotations?.[SERVICE_ACCOUNT_NAME_KEY]) {
      causes.push({ field: `metadata.annotations[${SERVICE_ACCOUNT_NAME_KEY}]`, message: 'Required value', reason: 'FieldValueRequired' });
    }
    if (obj.type === 'kubernetes.io/tls') {
      for (const k of ['tls.crt', 'tls.key']) if (!data || !(k in data)) causes.push({ field: `data[${k}]`, message: 'Required value', reason: 'FieldValueRequired' });
    }
    if (obj.type === 'kubernetes.io/basic-auth' && data && !('username' in data) && !('password' in data)) {
      causes.push({ field: 'data[username]', message: 'Required value', reason: 'FieldValueRequired' });
      causes.push({ field: 'data[password]', message: 'Required value', reason: 'FieldValueRequired' });
    }
  } else if (type.resource === 'configmaps') {
    const data = obj.data as Record<string, string> | undefined;
    const binary = obj.binaryData as Record<string, string> | undefined;
    causes.push(...keyCauses('data', data));
    for (const key of Object.keys(data ?? {}).sort()) {
      if (binary && key in binary) causes.push({ field: `data[${key}]`, message: `Invalid value: "${key}": duplicate of key present in binaryData` });
    }
    causes.push(...keyCauses('binaryData', binary));
    if (sizeOf(data, false) + sizeOf(binary, true) > MAX_SIZE) causes.push({ field: '', message: `Too long: may not be more than ${MAX_SIZE} bytes`, reason: 'FieldValueTooLong' });
  }
  return causes;
}

function sameMap(a: unknown, b: unknown): boolean {
  const x = (a ?? {}) as Record<string, string>;
  const y = (b ?? {}) as Record<string, string>;
  const kx = Object.keys(x).sort();
  const ky = Object.keys(y).sort();
  return kx.length === ky.length && kx.every((k, i) => k === ky[i] && x[k] === y[k]);
}

/** ValidateSecretUpdate / ValidateConfigMapUpdate: throws 422 Invalid. */
export function validateConfigObjectUpdate(type: ResourceType, cur: KObj, next: KObj): void {
  if (type.group !== '' || (type.resource !== 'secrets' && type.resource !== 'configmaps')) return;
  const causes: Cause[] = [];
  if (type.resource === 'secrets' && next.type !== cur.type) {
    causes.push({ field: 'type', message: `Invalid value: "${String(next.type)}": field is immutable` });
  }
  if (cur.immutable === true) {
    if (next.immutable !== true) causes.push({ field: 'immutable', message: IMMUTABLE_MSG, reason: 'FieldValueForbidden' });
    if (!sameMap(next.data, cur.data)) causes.push({ field: 'data', message: IMMUTABLE_MSG, reason: 'FieldValueForbidden' });
    if (type.resource === 'configmaps' && !sameMap(next.binaryData, cur.binaryData)) causes.push({ field: 'binaryData', message: IMMUTABLE_MSG, reason: 'FieldValueForbidden' });
  }
  causes.push(...configObjectCauses(type, next));
  if (causes.length) throw errors.invalid(type.group, type.kind, next.metadata.name ?? '', causes);
}
