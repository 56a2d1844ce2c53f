export {
  volumeManagerApiRef,
  type ArchiveDownload,
  type BackupListQuery,
  type CreateClusterSessionRequest,
  type HealthResponse,
  type RestoreListQuery,
  type VolumeManagerApi,
  type VolumesQuery,
} from './VolumeManagerApi';
export { VolumeManagerClient } from './VolumeManagerClient';
export { errorMessage, isEndpointUnavailable } from './errors';
