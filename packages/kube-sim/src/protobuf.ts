/**
 * Just enough of the Kubernetes protobuf encoding to read the bodies kubectl sends in protobuf:
 * SelfSubjectAccessReview and SelfSubjectRulesReview (`kubectl auth can-i`). Bodies start with
 * the magic `k8s\0` followed by a runtime.Unknown {typeMeta, raw, contentEncoding, contentType}.
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
    if (wire === 0) {
      [value, pos] = readVarint(buf, pos);
    } else if (wire === 2) {
      const [len, p2] = readVarint(buf, pos);
      value = buf.subarray(p2, p2 + Number(len));
      pos = p2 + Number(len);
    } else if (wire === 1) {
      value = buf.subarray(pos, pos + 8);
      pos += 8;
    } else if (wire === 5) {
      value = buf.subarray(pos, pos + 4);
      pos += 4;
    } else throw errors.badRequest(`protobuf: unsupported wire type ${wire}`);
    const list = out.get(field) ?? [];
    list.push(value);
    out.set(field, list);
  }
  return out;
}

const str = (f: Fields, n: number): string | undefined => {
  const v = f.get(n)?.[0];
  return Buffer.isBuffer(v) ? v.toString('utf8') : undefined;
};
const msg = (f: Fields, n: number): Fields | undefined => {
  const v = f.get(n)?.[0];
  return Buffer.isBuffer(v) ? decodeMessage(v) : undefined;
};

export function isProtobuf(contentType: string | undefined, body: Buffer): boolean {
  return /application\/vnd\.kubernetes\.protobuf/.test(contentType ?? '') || (body.length >= 4 && body.subarray(0, 4).equals(Buffer.from('k8s\0', 'binary')));
}

/** Decodes a protobuf request body into the JSON form for the kinds kube-sim understands. */
export function decodeProtobufObject(body: Buffer): Record<string, unknown> {
  if (!body.subarray(0, 4).equals(Buffer.from('k8s\0', 'binary'))) throw errors.badRequest('protobuf: missing k8s magic prefix');
  const unknown = decodeMessage(body.subarray(4));
  const typeMeta = msg(unknown, 1);
  const apiVersion = typeMeta ? str(typeMeta, 1) : undefined;
  const kind = typeMeta ? str(typeMeta, 2) : undefined;
  const raw = unknown.get(2)?.[0];
  const obj = Buffer.isBuffer(raw) ? decodeMessage(raw) : new Map();
  const meta = msg(obj, 1);
  const metadata: Record<string, unknown> = {};
  if (meta && str(meta, 1)) metadata.name = str(meta, 1);
  const spec = msg(obj, 2);
  if (kind === 'SelfSubjectAccessReview') {
    const out: Record<string, unknown> = {};
    const ra = spec && msg(spec, 1);
    const nra = spec && msg(spec, 2);
    if (ra) {
      const names = ['namespace', 'verb', 'group', 'version', 'resource', 'subresource', 'name'];
      const r: Record<string, string> = {};
      names.forEach((n, i) => {
        const v = str(ra, i + 1);
        if (v) r[n] = v;
      });
      out.resourceAttributes = r;
    }
    if (nra) out.nonResourceAttributes = { path: str(nra, 1) ?? '', verb: str(nra, 2) ?? '' };
    return { apiVersion, kind, metadata, spec: out };
  }
  if (kind === 'SelfSubjectRulesReview') {
    return { apiVersion, kind, metadata, spec: { namespace: (spec && str(spec, 1)) ?? '' } };
  }
  throw errors.unsupportedMediaType();
}
