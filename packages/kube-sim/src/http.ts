/** Small HTTP helpers: body reading, JSON/Status responses, Accept negotiation. */
import type http from 'node:http';
import { parse as parseYaml } from 'yaml';
import { ApiError, errors } from './status';

export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function parseJsonBody(body: Buffer, contentType: string | undefined): unknown {
  const text = body.toString('utf8');
  if (!text.trim()) throw errors.badRequest('Object \'Kind\' is missing in \'\'');
  try {
    if (contentType && /yaml/.test(contentType)) return parseYaml(text);
    return JSON.parse(text);
  } catch (e) {
    throw errors.badRequest(`error decoding request body: ${(e as Error).message}`);
  }
}

export function sendJson(res: http.ServerResponse, code: number, body: string | object, contentType = 'application/json'): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(code, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache, private',
    'X-Kubernetes-Pf-Flowschema-Uid': 'kube-sim',
  });
  res.end(text);
}

const auditAnnotations = new WeakMap<http.ServerResponse, Record<string, string>>();

/**
 * Adds apiserver warnings as `Warning: 299 - "text"` headers (the text quoted like Go's
 * strconv.Quote; non-ASCII escaped so the header stays valid). They go out with the response,
 * an error response included, as the apiserver's do.
 */
export function addWarnings(res: http.ServerResponse, warnings: string[]): void {
  if (!warnings.length || res.headersSent) return;
  const prev = res.getHeader('Warning');
  let list: string[] = [];
  if (Array.isArray(prev)) list = prev;
  else if (prev !== undefined) list = [String(prev)];
  const quote = (t: string) => JSON.stringify(t).replace(/[\u007f-\uffff]/g, ch => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
  res.setHeader('Warning', [...list, ...warnings.map(w => `299 - ${quote(w)}`)]);
}

/** Records audit annotations for the request (they end up in its request log entry). */
export function addAuditAnnotations(res: http.ServerResponse, annotations: Record<string, string>): void {
  if (!Object.keys(annotations).length) return;
  auditAnnotations.set(res, { ...auditAnnotations.get(res), ...annotations });
}

export function auditAnnotationsOf(res: http.ServerResponse): Record<string, string> | undefined {
  return auditAnnotations.get(res);
}

export function sendError(res: http.ServerResponse, err: unknown): void {
  const e = err instanceof ApiError ? err : errors.internal(err instanceof Error ? err.message : String(err));
  sendJson(res, e.code, e.toStatus());
}

export interface Negotiated {
  table: boolean;
  /** aggregated discovery was asked for (we always answer with the legacy form) */
  yaml: boolean;
  acceptable: boolean;
}

/** Parses Accept the way the apiserver's content negotiation does (first acceptable wins). */
export function negotiate(accept: string | undefined): Negotiated {
  if (!accept) return { table: false, yaml: false, acceptable: true };
  for (const part of accept.split(',')) {
    const [mt, ...params] = part.trim().split(';').map(s => s.trim());
    const p: Record<string, string> = {};
    for (const kv of params) {
      const [k, v] = kv.split('=');
      if (k && v !== undefined) p[k.toLowerCase()] = v;
    }
    const type = mt.toLowerCase();
    if (p.as === 'Table') {
      if ((p.g === 'meta.k8s.io' || !p.g) && (p.v === 'v1' || p.v === 'v1beta1' || !p.v) && (type === 'application/json' || type === '*/*')) {
        return { table: true, yaml: false, acceptable: true };
      }
      continue;
    }
    if (p.as || p.g) continue; // PartialObjectMetadata, aggregated discovery, ...: not served
    if (type === 'application/json' || type === '*/*' || type === 'application/*' || type === 'application/json-seq') return { table: false, yaml: false, acceptable: true };
    if (type === 'application/yaml') return { table: false, yaml: true, acceptable: true };
  }
  return { table: false, yaml: false, acceptable: false };
}

export function boolParam(v: string | null): boolean {
  return v === 'true' || v === '1';
}
