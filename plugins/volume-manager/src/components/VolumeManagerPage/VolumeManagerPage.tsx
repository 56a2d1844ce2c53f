import {
  Content,
  ContentHeader,
  Header,
  Page,
  SupportButton,
} from '@backstage/core-components';
import Grid from '@material-ui/core/Grid';
import { BackendStatusCard } from './BackendStatusCard';
import { BackupHistoryCard } from './BackupHistoryCard';
import { ClustersCard } from './ClustersCard';

/**
 * The volume-manager admin page: backend health, configured clusters and recent backups across
 * the portal.
 *
 * @public
 */
export const VolumeManagerPage = () => (
  <Page themeId="tool">
    <Header
      title="Volume backups"
      subtitle="Kubernetes PersistentVolumeClaims and their backups across the portal"
    />
    <Content>
      <ContentHeader title="Overview">
        <SupportButton>
          Each catalog entity with Kubernetes annotations has a Volumes tab for
          its own PVCs. This page shows the backend, its clusters and the
          backups of every entity.
        </SupportButton>
      </ContentHeader>
      <Grid container spacing={3} alignItems="stretch">
        <Grid item xs={12} md={4}>
          <BackendStatusCard />
        </Grid>
        <Grid item xs={12} md={8}>
          <ClustersCard />
        </Grid>
        <Grid item xs={12}>
          <BackupHistoryCard />
        </Grid>
      </Grid>
    </Content>
  </Page>
);
