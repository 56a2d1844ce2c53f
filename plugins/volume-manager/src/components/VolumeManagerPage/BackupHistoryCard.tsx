import { InfoCard, Table, type TableColumn } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import type { BackupItem } from '@nkvm/backstage-plugin-volume-manager-common';
import Typography from '@material-ui/core/Typography';
import useAsync from 'react-use/esm/useAsync';
import { volumeManagerApiRef } from '../../api';
import { formatTimestamp } from '../VolumesTable/format';
import { AsyncSection } from './AsyncSection';

const columns: TableColumn<BackupItem>[] = [
  { title: 'PVC', field: 'pvc', highlight: true },
  { title: 'Namespace', field: 'namespace' },
  { title: 'Cluster', field: 'cluster' },
  { title: 'Status', field: 'status' },
  {
    title: 'Finished',
    field: 'finishedAt',
    render: item => (item.finishedAt ? formatTimestamp(item.finishedAt) : '—'),
  },
  { title: 'Requested by', field: 'requestedBy' },
];

/**
 * The most recent backups across the portal (`GET /backups`).
 *
 * @internal
 */
export const BackupHistoryCard = () => {
  const api = useApi(volumeManagerApiRef);
  const state = useAsync(() => api.listBackups({ limit: 20 }), [api]);
  return (
    <InfoCard title="Recent backups">
      <AsyncSection
        state={state}
        unavailableTitle="Backup history is not available from this backend yet"
        endpoint="GET /api/volume-manager/backups"
      >
        {({ items }) =>
          items.length === 0 ? (
            <Typography>No backup has run yet.</Typography>
          ) : (
            <Table<BackupItem>
              options={{ paging: false, search: false, toolbar: false }}
              columns={columns}
              data={items}
            />
          )
        }
      </AsyncSection>
    </InfoCard>
  );
};
