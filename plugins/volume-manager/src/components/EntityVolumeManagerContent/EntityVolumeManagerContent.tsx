import { stringifyEntityRef, type Entity } from '@backstage/catalog-model';
import {
  EmptyState,
  Progress,
  ResponseErrorPanel,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { useEntity } from '@backstage/plugin-catalog-react';
import type { VolumesResponse } from '@nkvm/backstage-plugin-volume-manager-common';
import Grid from '@material-ui/core/Grid';
import useAsync from 'react-use/esm/useAsync';
import { isEndpointUnavailable, volumeManagerApiRef } from '../../api';
import { EndpointUnavailable } from '../EndpointUnavailable';
import { KubernetesAnnotationsHelp } from '../KubernetesAnnotationsHelp';
import { VolumesTable } from '../VolumesTable';
import { InventoryErrorsPanel } from './InventoryErrorsPanel';

const Inventory = ({
  entity,
  inventory,
}: {
  entity: Entity;
  inventory: VolumesResponse;
}) => (
  <Grid container spacing={3}>
    {inventory.errors.length > 0 && (
      <Grid item xs={12}>
        <InventoryErrorsPanel errors={inventory.errors} />
      </Grid>
    )}
    <Grid item xs={12}>
      {inventory.items.length > 0 ? (
        <VolumesTable volumes={inventory.items} />
      ) : (
        <EmptyState
          missing="data"
          title="No persistent volume claims found for this entity"
          description="No PVC in the clusters the backend can read belongs to this entity's workloads. If it should have volumes, check that its annotations select its pods."
          action={<KubernetesAnnotationsHelp entity={entity} />}
        />
      )}
    </Grid>
  </Grid>
);

/**
 * The Volumes tab of a catalog entity: the PersistentVolumeClaims of the entity's Kubernetes
 * workloads and their last successful backup.
 *
 * @public
 */
export const EntityVolumeManagerContent = () => {
  const { entity } = useEntity();
  const api = useApi(volumeManagerApiRef);
  const entityRef = stringifyEntityRef(entity);
  const { value, loading, error } = useAsync(
    () => api.getVolumes({ entityRef }),
    [api, entityRef],
  );

  if (loading) {
    return <Progress />;
  }
  if (error) {
    if (isEndpointUnavailable(error)) {
      return (
        <EndpointUnavailable
          title="Volume inventory is not available from this backend yet"
          endpoint="GET /api/volume-manager/volumes"
          action={<KubernetesAnnotationsHelp entity={entity} />}
        />
      );
    }
    return <ResponseErrorPanel error={error} />;
  }
  if (!value) {
    return <Progress />;
  }
  return <Inventory entity={entity} inventory={value} />;
};
