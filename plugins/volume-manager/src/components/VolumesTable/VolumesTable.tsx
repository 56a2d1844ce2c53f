import { Table, type TableColumn } from '@backstage/core-components';
import type { Volume } from '@nkvm/backstage-plugin-volume-manager-common';
import Typography from '@material-ui/core/Typography';
import { formatCapacity, formatOwner, formatTimestamp } from './format';

/** @internal */
export interface VolumesTableProps {
  volumes: Volume[];
  title?: string;
}

const volumeKey = (volume: Volume) =>
  `${volume.cluster}/${volume.namespace}/${volume.name}`;

const columns: TableColumn<Volume>[] = [
  { title: 'Name', field: 'name', highlight: true },
  { title: 'Namespace', field: 'namespace' },
  { title: 'Cluster', field: 'cluster' },
  {
    title: 'Owner',
    customSort: (a, b) => formatOwner(a).localeCompare(formatOwner(b)),
    customFilterAndSearch: (term, volume) =>
      formatOwner(volume).toLowerCase().includes(String(term).toLowerCase()),
    render: volume => formatOwner(volume),
  },
  {
    title: 'Capacity',
    customSort: (a, b) => formatCapacity(a).localeCompare(formatCapacity(b)),
    render: volume => formatCapacity(volume),
  },
  {
    title: 'Storage class',
    field: 'storageClass',
    render: volume => volume.storageClass ?? '—',
  },
  {
    title: 'Access modes',
    customSort: (a, b) =>
      a.accessModes.join(',').localeCompare(b.accessModes.join(',')),
    render: volume => volume.accessModes.join(', ') || '—',
  },
  {
    title: 'Last successful backup',
    customSort: (a, b) =>
      (a.lastSuccessfulBackup?.finishedAt ?? '').localeCompare(
        b.lastSuccessfulBackup?.finishedAt ?? '',
      ),
    render: volume =>
      volume.lastSuccessfulBackup ? (
        <time dateTime={volume.lastSuccessfulBackup.finishedAt}>
          {formatTimestamp(volume.lastSuccessfulBackup.finishedAt)}
        </time>
      ) : (
        <Typography variant="body2" color="textSecondary" component="span">
          Never
        </Typography>
      ),
  },
];

/**
 * A basic table of PVCs: one row per claim.
 *
 * @internal
 */
export const VolumesTable = ({
  volumes,
  title = 'Persistent volume claims',
}: VolumesTableProps) => (
  <Table<Volume>
    title={`${title} (${volumes.length})`}
    options={{
      paging: volumes.length > 20,
      pageSize: 20,
      padding: 'dense',
      search: true,
    }}
    columns={columns}
    data={volumes.map(volume => ({ ...volume, id: volumeKey(volume) }))}
  />
);
