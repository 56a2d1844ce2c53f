/**
 * The Kubernetes protobuf encoding of request bodies, for the kinds kubectl sends that way
 * (client-go typed clients: `kubectl create namespace|secret|configmap|serviceaccount|
 * deployment|job|cronjob|token`, `kubectl auth can-i`). Bodies start with the magic `k8s\0`
 * followed by a runtime.Unknown {typeMeta=1, raw=2, contentEncoding=3, contentType=4}; `raw` is
 * the object's message. A small schema per message (field numbers from k8s.io/api and
 * k8s.io/apimachinery generated.proto) turns it into the object's JSON form, with JSON's
 * `omitempty` semantics: Go marshals every non-pointer field, so zero values are dropped unless a
 * field is a pointer (`immutable`, `replicas`, …). A field the schema does not know is ignored
 * when it holds a zero value and refused with 415 otherwise, so nothing is silently lost.
 */
import { errors } from './status';

type Fields = Map<number, Array<Buffer | bigint>>;

function readVarint(buf: Buffer, start: number): [bigint, number] {
  let pos = start;
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw errors.badRequest('protobuf: truncated varint');
    const b = buf[pos++];
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7n;
  }
}

export function decodeMessage(buf: Buffer): Fields {
  const out: Fields = new Map();
  let pos = 0;
  while (pos < buf.length) {
    const [key, p1] = readVarint(buf, pos);
    pos = p1;
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    let value: Buffer | bigint;
    let end: number;
    if (wire === 0) {
      [value, pos] = readVarint(buf, pos);
      end = pos;
    } else if (wire === 2) {
      const [len, p2] = readVarint(buf, pos);
      end = p2 + Number(len);
      value = buf.subarray(p2, end);
    } else if (wire === 1) {
      end = pos + 8;
      value = buf.subarray(pos, end);
    } else if (wire === 5) {
      end = pos + 4;
      value = buf.subarray(pos, end);
    } else throw errors.badRequest(`protobuf: unsupported wire type ${wire}`);
    if (field === 0 || end > buf.length) throw errors.badRequest('protobuf: truncated message');
    pos = end;
    const list = out.get(field) ?? [];
    list.push(value);
    out.set(field, list);
  }
  return out;
}

function encodeVarint(n: number): Buffer {
  const bytes: number[] = [];
  let v = n;
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

/** Encodes one length-delimited field (wire type 2): a string, bytes or an encoded message. */
export function encodeField(tag: number, value: Buffer | string): Buffer {
  const b = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Buffer.concat([encodeVarint((tag << 3) | 2), encodeVarint(b.length), b]);
}

/** Encodes one varint field (wire type 0): an int or a bool. */
export function encodeVarintField(tag: number, value: number | boolean): Buffer {
  return Buffer.concat([encodeVarint(tag << 3), encodeVarint(Number(value))]);
}

// ---- schemas

type Scalar = 'string' | 'bytes' | 'bool' | 'int' | 'time' | 'quantity';

interface FieldSpec {
  json: string;
  type: Scalar | MessageSchema | { map: Scalar | MessageSchema };
  repeated?: boolean;
  /** a Go pointer: present means set, so zero values (`false`, `0`) are kept */
  pointer?: boolean;
}

export interface MessageSchema {
  name: string;
  fields: Record<number, FieldSpec>;
}

function schema(name: string, fields: Record<number, FieldSpec | [string, FieldSpec['type'], ('repeated' | 'pointer')?]>): MessageSchema {
  const out: Record<number, FieldSpec> = {};
  for (const [n, f] of Object.entries(fields)) {
    out[Number(n)] = Array.isArray(f) ? { json: f[0], type: f[1], repeated: f[2] === 'repeated', pointer: f[2] === 'pointer' } : f;
  }
  return { name, fields: out };
}

const OWNER_REFERENCE = schema('OwnerReference', { 5: ['apiVersion', 'string'], 1: ['kind', 'string'], 3: ['name', 'string'], 4: ['uid', 'string'], 6: ['controller', 'bool', 'pointer'], 7: ['blockOwnerDeletion', 'bool', 'pointer'] });

// k8s.io/apimachinery/pkg/apis/meta/v1 ObjectMeta (managedFields=17 is not decoded: kube-sim keeps none)
const OBJECT_META = schema('ObjectMeta', {
  1: ['name', 'string'],
  2: ['generateName', 'string'],
  3: ['namespace', 'string'],
  4: ['selfLink', 'string'],
  5: ['uid', 'string'],
  6: ['resourceVersion', 'string'],
  7: ['generation', 'int'],
  8: ['creationTimestamp', 'time'],
  9: ['deletionTimestamp', 'time'],
  10: ['deletionGracePeriodSeconds', 'int', 'pointer'],
  11: ['labels', { map: 'string' }],
  12: ['annotations', { map: 'string' }],
  13: ['ownerReferences', OWNER_REFERENCE, 'repeated'],
  14: ['finalizers', 'string', 'repeated'],
});

const LABEL_SELECTOR = schema('LabelSelector', {
  1: ['matchLabels', { map: 'string' }],
  2: ['matchExpressions', schema('LabelSelectorRequirement', { 1: ['key', 'string'], 2: ['operator', 'string'], 3: ['values', 'string', 'repeated'] }), 'repeated'],
});

const OBJECT_REFERENCE = schema('ObjectReference', { 1: ['kind', 'string'], 2: ['namespace', 'string'], 3: ['name', 'string'], 4: ['uid', 'string'], 5: ['apiVersion', 'string'], 6: ['resourceVersion', 'string'], 7: ['fieldPath', 'string'] });
const LOCAL_OBJECT_REFERENCE = schema('LocalObjectReference', { 1: ['name', 'string'] });

// k8s.io/api/core/v1: the parts of a pod template that `kubectl create deployment|job|cronjob` fill in
const CONTAINER = schema('Container', {
  1: ['name', 'string'],
  2: ['image', 'string'],
  3: ['command', 'string', 'repeated'],
  4: ['args', 'string', 'repeated'],
  5: ['workingDir', 'string'],
  6: ['ports', schema('ContainerPort', { 1: ['name', 'string'], 2: ['hostPort', 'int'], 3: ['containerPort', 'int'], 4: ['protocol', 'string'], 5: ['hostIP', 'string'] }), 'repeated'],
  7: ['env', schema('EnvVar', { 1: ['name', 'string'], 2: ['value', 'string'] }), 'repeated'],
  8: ['resources', schema('ResourceRequirements', { 1: ['limits', { map: 'quantity' }], 2: ['requests', { map: 'quantity' }] })],
  9: ['volumeMounts', schema('VolumeMount', { 1: ['name', 'string'], 2: ['readOnly', 'bool'], 3: ['mountPath', 'string'], 4: ['subPath', 'string'] }), 'repeated'],
  13: ['terminationMessagePath', 'string'],
  20: ['terminationMessagePolicy', 'string'],
  14: ['imagePullPolicy', 'string'],
  16: ['stdin', 'bool'],
  17: ['stdinOnce', 'bool'],
  18: ['tty', 'bool'],
});

const POD_SPEC = schema('PodSpec', {
  20: ['initContainers', CONTAINER, 'repeated'],
  2: ['containers', CONTAINER, 'repeated'],
  3: ['restartPolicy', 'string'],
  4: ['terminationGracePeriodSeconds', 'int', 'pointer'],
  5: ['activeDeadlineSeconds', 'int', 'pointer'],
  6: ['dnsPolicy', 'string'],
  7: ['nodeSelector', { map: 'string' }],
  8: ['serviceAccountName', 'string'],
  9: ['serviceAccount', 'string'],
  21: ['automountServiceAccountToken', 'bool', 'pointer'],
  10: ['nodeName', 'string'],
  15: ['imagePullSecrets', LOCAL_OBJECT_REFERENCE, 'repeated'],
  19: ['schedulerName', 'string'],
  24: ['priorityClassName', 'string'],
  30: ['enableServiceLinks', 'bool', 'pointer'],
});

const POD_TEMPLATE_SPEC = schema('PodTemplateSpec', { 1: ['metadata', OBJECT_META], 2: ['spec', POD_SPEC] });

const JOB_SPEC = schema('JobSpec', {
  1: ['parallelism', 'int', 'pointer'],
  2: ['completions', 'int', 'pointer'],
  3: ['activeDeadlineSeconds', 'int', 'pointer'],
  7: ['backoffLimit', 'int', 'pointer'],
  4: ['selector', LABEL_SELECTOR],
  5: ['manualSelector', 'bool', 'pointer'],
  6: ['template', POD_TEMPLATE_SPEC],
  8: ['ttlSecondsAfterFinished', 'int', 'pointer'],
  9: ['completionMode', 'string'],
  10: ['suspend', 'bool', 'pointer'],
});

const NAMESPACE = schema('Namespace', {
  1: ['metadata', OBJECT_META],
  2: ['spec', schema('NamespaceSpec', { 1: ['finalizers', 'string', 'repeated'] })],
  3: ['status', schema('NamespaceStatus', { 1: ['phase', 'string'] })],
});

const SECRET = schema('Secret', {
  1: ['metadata', OBJECT_META],
  5: ['immutable', 'bool', 'pointer'],
  2: ['data', { map: 'bytes' }],
  4: ['stringData', { map: 'string' }],
  3: ['type', 'string'],
});

const CONFIG_MAP = schema('ConfigMap', {
  1: ['metadata', OBJECT_META],
  4: ['immutable', 'bool', 'pointer'],
  2: ['data', { map: 'string' }],
  3: ['binaryData', { map: 'bytes' }],
});

const SERVICE_ACCOUNT = schema('ServiceAccount', {
  1: ['metadata', OBJECT_META],
  2: ['secrets', OBJECT_REFERENCE, 'repeated'],
  3: ['imagePullSecrets', LOCAL_OBJECT_REFERENCE, 'repeated'],
  4: ['automountServiceAccountToken', 'bool', 'pointer'],
});

const DEPLOYMENT = schema('Deployment', {
  1: ['metadata', OBJECT_META],
  2: [
    'spec',
    schema('DeploymentSpec', {
      1: ['replicas', 'int', 'pointer'],
      2: ['selector', LABEL_SELECTOR],
      3: ['template', POD_TEMPLATE_SPEC],
      4: ['strategy', schema('DeploymentStrategy', { 1: ['type', 'string'] })],
      5: ['minReadySeconds', 'int'],
      6: ['revisionHistoryLimit', 'int', 'pointer'],
      7: ['paused', 'bool'],
      9: ['progressDeadlineSeconds', 'int', 'pointer'],
    }),
  ],
});

const JOB = schema('Job', { 1: ['metadata', OBJECT_META], 2: ['spec', JOB_SPEC] });

const CRON_JOB = schema('CronJob', {
  1: ['metadata', OBJECT_META],
  2: [
    'spec',
    schema('CronJobSpec', {
      1: ['schedule', 'string'],
      8: ['timeZone', 'string', 'pointer'],
      2: ['startingDeadlineSeconds', 'int', 'pointer'],
      3: ['concurrencyPolicy', 'string'],
      4: ['suspend', 'bool', 'pointer'],
      5: ['jobTemplate', schema('JobTemplateSpec', { 1: ['metadata', OBJECT_META], 2: ['spec', JOB_SPEC] })],
      6: ['successfulJobsHistoryLimit', 'int', 'pointer'],
      7: ['failedJobsHistoryLimit', 'int', 'pointer'],
    }),
  ],
});

// k8s.io/api/authorization/v1
const SELF_SUBJECT_ACCESS_REVIEW = schema('SelfSubjectAccessReview', {
  1: ['metadata', OBJECT_META],
  2: [
    'spec',
    schema('SelfSubjectAccessReviewSpec', {
      1: ['resourceAttributes', schema('ResourceAttributes', { 1: ['namespace', 'string'], 2: ['verb', 'string'], 3: ['group', 'string'], 4: ['version', 'string'], 5: ['resource', 'string'], 6: ['subresource', 'string'], 7: ['name', 'string'] })],
      2: ['nonResourceAttributes', schema('NonResourceAttributes', { 1: ['path', 'string'], 2: ['verb', 'string'] })],
    }),
  ],
});
const SELF_SUBJECT_RULES_REVIEW = schema('SelfSubjectRulesReview', { 1: ['metadata', OBJECT_META], 2: ['spec', schema('SelfSubjectRulesReviewSpec', { 1: ['namespace', 'string'] })] });

// k8s.io/api/authentication/v1
const TOKEN_REQUEST = schema('TokenRequest', {
  1: ['metadata', OBJECT_META],
  2: [
    'spec',
    schema('TokenRequestSpec', {
      1: ['audiences', 'string', 'repeated'],
      4: ['expirationSeconds', 'int', 'pointer'],
      3: ['boundObjectRef', schema('BoundObjectReference', { 1: ['kind', 'string'], 2: ['apiVersion', 'string'], 3: ['name', 'string'], 4: ['uid', 'string'] })],
    }),
  ],
});

/** The kinds whose protobuf bodies kube-sim decodes, by `apiVersion/kind`. */
const KINDS: Record<string, MessageSchema> = {
  'v1/Namespace': NAMESPACE,
  'v1/Secret': SECRET,
  'v1/ConfigMap': CONFIG_MAP,
  'v1/ServiceAccount': SERVICE_ACCOUNT,
  'apps/v1/Deployment': DEPLOYMENT,
  'batch/v1/Job': JOB,
  'batch/v1/CronJob': CRON_JOB,
  'authorization.k8s.io/v1/SelfSubjectAccessReview': SELF_SUBJECT_ACCESS_REVIEW,
  'authorization.k8s.io/v1/SelfSubjectRulesReview': SELF_SUBJECT_RULES_REVIEW,
  'authentication.k8s.io/v1/TokenRequest': TOKEN_REQUEST,
};

// ---- decoding

/** Go's zero value on the wire: varint 0, empty bytes, or a message made only of zero values. */
function isZero(v: Buffer | bigint): boolean {
  if (typeof v === 'bigint') return v === 0n;
  if (v.length === 0) return true;
  let inner: Fields;
  try {
    inner = decodeMessage(v);
  } catch {
    return false;
  }
  for (const values of inner.values()) if (!values.every(isZero)) return false;
  return true;
}

function asBuffer(v: Buffer | bigint, where: string): Buffer {
  if (typeof v === 'bigint') throw errors.badRequest(`protobuf: ${where}: expected a length-delimited field`);
  return v;
}

function asVarint(v: Buffer | bigint, where: string): bigint {
  if (typeof v !== 'bigint') throw errors.badRequest(`protobuf: ${where}: expected a varint`);
  return v;
}

function rfc3339(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
}

function decodeScalar(type: Scalar, v: Buffer | bigint, where: string): unknown {
  switch (type) {
    case 'string':
      return asBuffer(v, where).toString('utf8');
    case 'bytes':
      return asBuffer(v, where).toString('base64');
    case 'bool':
      return asVarint(v, where) !== 0n;
    case 'int':
      return Number(BigInt.asIntN(64, asVarint(v, where)));
    case 'time': {
      const f = decodeMessage(asBuffer(v, where));
      const s = f.get(1)?.[0];
      // a zero metav1.Time is `null` in JSON
      return typeof s === 'bigint' && s !== 0n ? rfc3339(Number(BigInt.asIntN(64, s))) : null;
    }
    case 'quantity': {
      // k8s.io/apimachinery/pkg/api/resource Quantity {string = 1}
      const s = decodeMessage(asBuffer(v, where)).get(1)?.[0];
      return Buffer.isBuffer(s) ? s.toString('utf8') : undefined;
    }
    default:
      throw errors.badRequest(`protobuf: ${where}: unknown type`);
  }
}

function isEmpty(v: unknown): boolean {
  return v === undefined || v === '' || v === 0 || v === false;
}

function decodeValue(type: Scalar | MessageSchema, v: Buffer | bigint, where: string): unknown {
  return typeof type === 'string' ? decodeScalar(type, v, where) : decodeWith(type, asBuffer(v, where), where);
}

function decodeWith(s: MessageSchema, buf: Buffer, where: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [num, values] of decodeMessage(buf)) {
    const spec = s.fields[num];
    const path = `${where}.${spec?.json ?? num}`;
    if (!spec) {
      if (values.every(isZero)) continue;
      throw errors.unsupportedMediaType(['application/json', 'application/yaml'], `kube-sim does not decode protobuf field ${num} of ${s.name} (${where}); send this object as JSON`);
    }
    const t = spec.type;
    if (typeof t === 'object' && 'map' in t) {
      const m: Record<string, unknown> = {};
      for (const entry of values) {
        const e = decodeMessage(asBuffer(entry, path));
        const k = e.get(1)?.[0];
        const val = e.get(2)?.[0];
        const key = k === undefined ? '' : String(decodeScalar('string', k, path));
        m[key] = val === undefined ? decodeValue(t.map, Buffer.alloc(0), path) : decodeValue(t.map, val, `${path}[${key}]`);
      }
      out[spec.json] = { ...((out[spec.json] as object) ?? {}), ...m };
      continue;
    }
    if (spec.repeated) {
      out[spec.json] = [...((out[spec.json] as unknown[]) ?? []), ...values.map((v, i) => decodeValue(t, v, `${path}[${i}]`))];
      continue;
    }
    const value = decodeValue(t, values[values.length - 1], path);
    if (value === undefined) continue;
    // Go's JSON keeps non-pointer structs even when empty (`resources: {}`)
    if (spec.pointer || typeof t === 'object' || !isEmpty(value)) out[spec.json] = value;
  }
  return out;
}

export function isProtobuf(contentType: string | undefined, body: Buffer): boolean {
  return /application\/vnd\.kubernetes\.protobuf/.test(contentType ?? '') || (body.length >= 4 && body.subarray(0, 4).equals(Buffer.from('k8s\0', 'binary')));
}

/**
 * Decodes a protobuf request body into the object's JSON form. Kinds without a schema get the
 * apiserver's 415 (as for a resource that has no protobuf encoding, e.g. a custom resource).
 */
export function decodeProtobufObject(body: Buffer): Record<string, unknown> {
  if (!body.subarray(0, 4).equals(Buffer.from('k8s\0', 'binary'))) throw errors.badRequest('protobuf: missing k8s magic prefix');
  const unknown = decodeMessage(body.subarray(4));
  const typeMetaRaw = unknown.get(1)?.[0];
  const typeMeta = typeMetaRaw === undefined ? {} : decodeWith(schema('TypeMeta', { 1: ['apiVersion', 'string'], 2: ['kind', 'string'] }), asBuffer(typeMetaRaw, 'typeMeta'), 'typeMeta');
  const apiVersion = String(typeMeta.apiVersion ?? '');
  const kind = String(typeMeta.kind ?? '');
  const s = KINDS[`${apiVersion}/${kind}`];
  if (!s) throw errors.unsupportedMediaType(['application/json', 'application/yaml']);
  const raw = unknown.get(2)?.[0];
  const obj = raw === undefined ? {} : decodeWith(s, asBuffer(raw, kind), kind);
  return { apiVersion, kind, metadata: {}, ...obj };
}
