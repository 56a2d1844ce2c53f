import type { BackupItem } from '@nkvm/backstage-plugin-volume-manager-common';
import type { VolumeManagerApi } from '../../api';

/** Archives above this size are saved without checking their sha256 in the browser. */
const MAX_VERIFY_BYTES = 512 * 1024 * 1024;

/** The outcome of {@link saveArchive}. @internal */
export interface SavedArchive {
  fileName: string;
  bytes: number;
  /** The sha256 of the bytes received, when the browser could compute it. */
  sha256?: string;
  /** Whether it matched the recorded sha256; `undefined` when it was not checked. */
  verified?: boolean;
}

function baseName(uri: string | null): string | undefined {
  if (!uri) {
    return undefined;
  }
  const last = uri.split(/[\\/]/).pop();
  return last && last.endsWith('.tar.gz') ? decodeURIComponent(last) : undefined;
}

async function sha256Hex(blob: Blob): Promise<string | undefined> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle || blob.size > MAX_VERIFY_BYTES || typeof blob.arrayBuffer !== 'function') {
    return undefined;
  }
  const digest = await subtle.digest('SHA-256', await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), b => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Downloads one archive through the API (so the Backstage token is sent), checks its sha256
 * against the recorded one when the browser can, and saves it under its file name.
 * A checksum mismatch is an error and nothing is saved.
 *
 * @internal
 */
export async function saveArchive(
  api: VolumeManagerApi,
  item: BackupItem,
): Promise<SavedArchive> {
  const download = await api.downloadArchive(item.runId, item.id);
  const fileName =
    download.fileName ?? baseName(item.archiveUri) ?? `${item.pvc}-${item.id}.tar.gz`;
  const expected = (item.sha256 ?? download.sha256)?.toLowerCase();
  const actual = await sha256Hex(download.blob);
  const verified = actual && expected ? actual === expected : undefined;
  if (verified === false) {
    throw new Error(
      `The downloaded archive ${fileName} has sha256 ${actual}, but the backup recorded ${expected}; it was not saved`,
    );
  }
  if (typeof URL.createObjectURL === 'function') {
    const url = URL.createObjectURL(download.blob);
    const link = document.createElement('a');
    link.href = url;
    link.download = fileName;
    link.rel = 'noopener';
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }
  return { fileName, bytes: download.blob.size, sha256: actual, verified };
}
