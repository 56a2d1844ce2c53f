import type { Volume } from '@nkvm/backstage-plugin-volume-manager-common';

/**
 * Formats an ISO timestamp as `YYYY-MM-DD HH:MM UTC`, independent of the browser's locale.
 *
 * @internal
 */
export function formatTimestamp(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return iso;
  }
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** @internal */
export function formatOwner(volume: Volume): string {
  return volume.owner
    ? `${volume.owner.kind}/${volume.owner.name}`
    : 'unmounted';
}

/** @internal */
export function formatCapacity(volume: Volume): string {
  return volume.capacity.actual ?? volume.capacity.requested ?? '—';
}
