export { VolumeManagerPage } from './VolumeManagerPage';
