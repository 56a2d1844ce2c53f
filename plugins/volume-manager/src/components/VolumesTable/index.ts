export { VolumesTable, type VolumesTableProps, type VolumeSelection } from './VolumesTable';
