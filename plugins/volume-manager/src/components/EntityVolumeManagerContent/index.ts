export { EntityVolumeManagerContent } from './EntityVolumeManagerContent';
