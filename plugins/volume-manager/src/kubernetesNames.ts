/** A DNS-1123 label: a namespace, a cluster session name. @internal */
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Whether `name` is a DNS-1123 label (at most 63 characters). @internal */
export function isDnsLabel(name: string): boolean {
  return name.length <= 63 && DNS1123_LABEL.test(name);
}

/** Whether `name` is a DNS-1123 subdomain, as PVC names must be (at most 253 characters). @internal */
export function isDnsSubdomain(name: string): boolean {
  return name.length <= 253 && name.split('.').every(part => DNS1123_LABEL.test(part));
}

/**
 * Whether `value` is a storage size the restore API accepts for a new PVC: a positive decimal
 * (at most 32 characters) with an optional binary (`Ki`…`Ei`) or decimal (`k`…`E`) suffix, for
 * example `2Gi`.
 *
 * @internal
 */
export function isStorageQuantity(value: string): boolean {
  return (
    value.length <= 32 &&
    /^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/.test(value) &&
    Number.parseFloat(value) > 0
  );
}
