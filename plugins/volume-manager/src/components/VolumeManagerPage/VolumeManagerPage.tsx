import {
  Content,
  ContentHeader,
  Header,
  InfoCard,
  Page,
  SupportButton,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { usePermission } from '@backstage/plugin-permission-react';
import { clusterSessionCreatePermission } from '@nkvm/backstage-plugin-volume-manager-common';
import Grid from '@material-ui/core/Grid';
import useAsyncRetry from 'react-use/esm/useAsyncRetry';
import { volumeManagerApiRef } from '../../api';
import { RestoresCard } from '../RestoresCard';
import { BackendStatusCard } from './BackendStatusCard';
import { ClusterSessionCard } from './ClusterSessionCard';
import { ClustersCard } from './ClustersCard';
import { InventoryCard } from './InventoryCard';
import { RunsCard } from './RunsCard';

/**
 * The volume-manager admin page: the backend, its clusters and their health, the inventory
 * across namespaces with filters, backup runs and restores across the portal with cancel, and (for users
 * allowed to) the paste-a-kubeconfig flow.
 *
 * @public
 */
export const VolumeManagerPage = () => {
  const api = useApi(volumeManagerApiRef);
  const clusters = useAsyncRetry(() => api.getClusters(), [api]);
  const inventory = useAsyncRetry(() => api.getVolumes({}), [api]);
  const canPaste = usePermission({ permission: clusterSessionCreatePermission });

  return (
    <Page themeId="tool">
      <Header
        title="Volume backups"
        subtitle="Kubernetes PersistentVolumeClaims and their backups across the portal"
      />
      <Content>
        <ContentHeader title="Overview">
          <SupportButton>
            Each catalog entity with Kubernetes annotations has a Volumes tab for
            its own PVCs. This page shows the backend, its clusters, every
            volume it can see and the backups across the portal.
          </SupportButton>
        </ContentHeader>
        <Grid container spacing={3} alignItems="stretch">
          <Grid item xs={12} md={4}>
            <BackendStatusCard />
          </Grid>
          <Grid item xs={12} md={8}>
            <ClustersCard clusters={clusters} inventory={inventory} />
          </Grid>
          {canPaste.allowed && (
            <Grid item xs={12}>
              <ClusterSessionCard
                onCreated={() => {
                  clusters.retry();
                  inventory.retry();
                }}
              />
            </Grid>
          )}
          <Grid item xs={12}>
            <InfoCard title="Volumes across the portal" noPadding={false}>
              <InventoryCard inventory={inventory} onRefresh={inventory.retry} />
            </InfoCard>
          </Grid>
          <Grid item xs={12} lg={6}>
            <RunsCard />
          </Grid>
          <Grid item xs={12} lg={6}>
            <RestoresCard />
          </Grid>
        </Grid>
      </Content>
    </Page>
  );
};
