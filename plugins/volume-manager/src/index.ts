/**
 * Backstage frontend plugin: the Volumes tab of catalog entities and the volume-manager admin
 * page.
 *
 * @packageDocumentation
 */
export {
  volumeManagerPlugin,
  EntityVolumeManagerContent,
  VolumeManagerPage,
  isVolumeManagerAvailable,
} from './plugin';
export * from './api';
