/*
 * The sink contract lives in `@nkvm/backstage-plugin-volume-manager-node`, so modules can add
 * destinations through `volumeManagerArchiveSinkExtensionPoint`. Re-exported here for the
 * backend's own imports.
 */
export {
  ArchiveSinkError,
  archiveRelativePath,
  isTransientArchiveSinkError,
  utcStamp,
} from '@nkvm/backstage-plugin-volume-manager-node';
export type {
  ArchiveSink,
  ArchiveTarget,
  ArchiveUpload,
  ArchiveDownload,
} from '@nkvm/backstage-plugin-volume-manager-node';
