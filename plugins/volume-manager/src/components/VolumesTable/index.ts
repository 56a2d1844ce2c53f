export { VolumesTable, type VolumesTableProps } from './VolumesTable';
