/**
 * Unknown-field detection (what `kubectl apply --validate=strict` does on the server): the
 * kubernetes-models schemas accept any extra key, so a typo such as `readOnlyRootFileSystem`
 * would pass them. The attribute maps of @kubernetes/client-node's models, generated from the
 * same Kubernetes OpenAPI definitions, list every field each type has.
 */
import * as k8s from '@kubernetes/client-node';

type AttributeMap = Array<{ name: string; baseName: string; type: string }>;
const models = k8s as unknown as Record<string, { getAttributeTypeMap?: () => AttributeMap }>;

/** `apps/v1` + `Deployment` → `V1Deployment`. */
export function modelName(apiVersion: string, kind: string): string {
  const version = apiVersion.split('/').pop()!;
  return `${version[0].toUpperCase()}${version.slice(1)}${kind}`;
}

function walk(value: unknown, type: string, at: string, out: string[]) {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, array[1], `${at}[${i}]`, out));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    for (const [k, v] of Object.entries(value as object)) walk(v, map[1], `${at}.${k}`, out);
    return;
  }
  const model = models[type]?.getAttributeTypeMap?.();
  if (!model || typeof value !== 'object') return; // primitives, IntOrString, Quantity
  for (const [key, v] of Object.entries(value as object)) {
    const attribute = model.find(a => a.baseName === key);
    if (!attribute) out.push(`${at}.${key}`);
    else walk(v, attribute.type, `${at}.${key}`, out);
  }
}

/** Paths of fields the Kubernetes API does not define for this object's kind. */
export function unknownFields(obj: { apiVersion: string; kind: string }): string[] {
  const type = modelName(obj.apiVersion, obj.kind);
  if (!models[type]?.getAttributeTypeMap) return [`(no model ${type})`];
  const out: string[] = [];
  walk(obj, type, obj.kind, out);
  return out;
}
