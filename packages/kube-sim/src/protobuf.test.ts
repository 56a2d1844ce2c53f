/** The protobuf request-body decoder, fed with bodies captured from kubectl 1.33 (`-v=9`). */
import { decodeProtobufObject, encodeField, encodeVarintField } from './protobuf';
import { ApiError } from './status';

// kubectl 1.33: create secret generic s1 -n payments --from-literal=a=b --from-literal=c=dd
const SECRET_BODY =
  '6b3873000a0c0a0276311206536563726574122f0a1a0a02733112001a087061796d656e747322002a0032003800420012060a016112016212070a0163120264641a001a002200';
// kubectl 1.33: create deployment d1 -n payments --image=nginx:1.27 (every zero-valued PodSpec field included)
const DEPLOYMENT_BODY =
  '6b3873000a150a07617070732f7631120a4465706c6f796d656e7412b4010a250a02643112001a087061796d656e747322002a003200380042005a090a0361707012026431127d0801120b0a090a03617070120264311a640a1b0a0012001a0022002a003200380042005a090a0361707012026431124512270a056e67696e78120a6e67696e783a312e32372a0042006a007200800100880100900100a201001a00320042004a0052005800600068008201008a01009a0100c2010022020a00280038001a0c0800100018002000280038001a002200';

function envelope(apiVersion: string, kind: string, raw: Buffer): Buffer {
  const typeMeta = Buffer.concat([encodeField(1, apiVersion), encodeField(2, kind)]);
  return Buffer.concat([Buffer.from('k8s\0', 'binary'), encodeField(1, typeMeta), encodeField(2, raw)]);
}

function apiError(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('expected an ApiError');
}

it('decodes the Secret kubectl 1.33 sends: bytes map as base64, empty strings dropped', () => {
  expect(decodeProtobufObject(Buffer.from(SECRET_BODY, 'hex'))).toEqual({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 's1', namespace: 'payments', creationTimestamp: null },
    data: { a: Buffer.from('b').toString('base64'), c: Buffer.from('dd').toString('base64') },
  });
});

it('decodes the Deployment kubectl 1.33 sends and ignores its zero-valued unknown fields', () => {
  const d = decodeProtobufObject(Buffer.from(DEPLOYMENT_BODY, 'hex')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  expect(d).toMatchObject({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd1', namespace: 'payments', labels: { app: 'd1' } } });
  expect(d.spec.replicas).toBe(1);
  expect(d.spec.selector).toEqual({ matchLabels: { app: 'd1' } });
  expect(d.spec.template.metadata.labels).toEqual({ app: 'd1' });
  expect(d.spec.template.spec.containers).toEqual([{ name: 'nginx', image: 'nginx:1.27', resources: {} }]);
  expect(d.status).toBeUndefined();
});

it('keeps pointer fields that are set to their zero value (immutable: false)', () => {
  const meta = encodeField(1, 'cfg');
  const raw = Buffer.concat([encodeField(1, meta), encodeVarintField(4, false), encodeField(2, Buffer.concat([encodeField(1, 'k'), encodeField(2, 'v')]))]);
  expect(decodeProtobufObject(envelope('v1', 'ConfigMap', raw))).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, immutable: false, data: { k: 'v' } });
});

it('refuses a kind it has no schema for with the apiserver 415 wording', () => {
  const e = apiError(() => decodeProtobufObject(envelope('v1', 'PersistentVolumeClaim', encodeField(1, encodeField(1, 'x')))));
  expect(e.code).toBe(415);
  expect(e.reason).toBe('UnsupportedMediaType');
  expect(e.message).toBe('the body of the request was in an unknown format - accepted media types include: application/json, application/yaml');
});

it('refuses a set field it cannot decode instead of dropping it', () => {
  // Secret field 9 does not exist in the schema and carries data
  const raw = Buffer.concat([encodeField(1, encodeField(1, 's')), encodeField(9, 'surprise')]);
  const e = apiError(() => decodeProtobufObject(envelope('v1', 'Secret', raw)));
  expect(e.code).toBe(415);
  expect(e.toStatus().details?.causes?.[0].message).toBe('kube-sim does not decode protobuf field 9 of Secret (Secret); send this object as JSON');
});

it('answers a truncated body with 400, not a crash', () => {
  const body = Buffer.from(SECRET_BODY, 'hex').subarray(0, 40);
  expect(apiError(() => decodeProtobufObject(body)).code).toBe(400);
});
