import { InfoCard, Table, type TableColumn } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import type { ClusterSummary } from '@nkvm/backstage-plugin-volume-manager-common';
import Typography from '@material-ui/core/Typography';
import useAsync from 'react-use/esm/useAsync';
import { volumeManagerApiRef } from '../../api';
import { AsyncSection } from './AsyncSection';

const columns: TableColumn<ClusterSummary>[] = [
  { title: 'Name', field: 'name', highlight: true },
  { title: 'Title', field: 'title', render: c => c.title ?? '—' },
  { title: 'Source', field: 'source' },
  {
    title: 'Auth provider',
    field: 'authProvider',
    render: c => c.authProvider ?? '—',
  },
];

/**
 * The clusters the backend is configured to reach (`GET /clusters`).
 *
 * @internal
 */
export const ClustersCard = () => {
  const api = useApi(volumeManagerApiRef);
  const state = useAsync(() => api.getClusters(), [api]);
  return (
    <InfoCard title="Clusters">
      <AsyncSection
        state={state}
        unavailableTitle="The cluster list is not available from this backend yet"
        endpoint="GET /api/volume-manager/clusters"
      >
        {({ clusters }) =>
          clusters.length === 0 ? (
            <Typography>
              No cluster is configured. Add one under kubernetes.clusterLocatorMethods
              or volumeManager.clusters in app-config.yaml.
            </Typography>
          ) : (
            <Table<ClusterSummary>
              options={{ paging: false, search: false, toolbar: false }}
              columns={columns}
              data={clusters}
            />
          )
        }
      </AsyncSection>
    </InfoCard>
  );
};
