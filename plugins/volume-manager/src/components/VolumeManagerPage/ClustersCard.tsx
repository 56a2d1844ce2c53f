import {
  InfoCard,
  StatusError,
  StatusOK,
  StatusPending,
  StatusWarning,
} from '@backstage/core-components';
import type {
  ClusterSummary,
  ClustersResponse,
  InventoryError,
  VolumesResponse,
} from '@nkvm/backstage-plugin-volume-manager-common';
import Table from '@material-ui/core/Table';
import TableBody from '@material-ui/core/TableBody';
import TableCell from '@material-ui/core/TableCell';
import TableHead from '@material-ui/core/TableHead';
import TableRow from '@material-ui/core/TableRow';
import Typography from '@material-ui/core/Typography';
import { AsyncSection } from './AsyncSection';
import { formatExactTimestamp } from '../VolumesTable/format';

type AsyncState<T> = { loading: boolean; error?: Error; value?: T };

/** @internal */
export interface ClusterHealth {
  state: 'healthy' | 'degraded' | 'unreachable' | 'unknown';
  text: string;
}

const CLUSTER_WIDE: InventoryError['errorType'][] = [
  'CLUSTER_UNREACHABLE',
  'UNAUTHORIZED',
  'TIMEOUT',
];

/**
 * A cluster's health as the last inventory saw it: unreachable when the cluster itself failed,
 * degraded when some namespaces could not be read, healthy otherwise.
 *
 * @internal
 */
export function clusterHealth(
  cluster: string,
  inventory: VolumesResponse | undefined,
): ClusterHealth {
  if (!inventory) {
    return { state: 'unknown', text: 'Not checked yet' };
  }
  const errors = inventory.errors.filter(e => e.cluster === cluster);
  const fatal = errors.find(e => !e.namespace && CLUSTER_WIDE.includes(e.errorType));
  if (fatal) {
    return { state: 'unreachable', text: `${fatal.errorType}: ${fatal.message}` };
  }
  const pvcs = inventory.items.filter(v => v.cluster === cluster).length;
  if (errors.length > 0) {
    return {
      state: 'degraded',
      text: `${pvcs} PVCs read; ${errors.length} ${errors.length === 1 ? 'part' : 'parts'} unreadable (${errors
        .map(e => `${e.namespace ?? 'cluster'}: ${e.errorType}`)
        .join(', ')})`,
    };
  }
  return { state: 'healthy', text: `Reachable; ${pvcs} PVCs` };
}

const HealthStatus = ({ health }: { health: ClusterHealth }) => {
  switch (health.state) {
    case 'healthy':
      return <StatusOK>{health.text}</StatusOK>;
    case 'degraded':
      return <StatusWarning>{health.text}</StatusWarning>;
    case 'unreachable':
      return <StatusError>{health.text}</StatusError>;
    default:
      return <StatusPending>{health.text}</StatusPending>;
  }
};

/**
 * The clusters the backend can reach (`GET /clusters`) and their health, from the inventory
 * the page read (`GET /volumes`).
 *
 * @internal
 */
export const ClustersCard = ({
  clusters,
  inventory,
}: {
  clusters: AsyncState<ClustersResponse>;
  inventory: AsyncState<VolumesResponse>;
}) => (
  <InfoCard title="Clusters">
    <AsyncSection
      state={clusters}
      unavailableTitle="The cluster list is not available from this backend yet"
      endpoint="GET /api/volume-manager/clusters"
    >
      {({ clusters: list, authModes }) =>
        list.length === 0 ? (
          <Typography>
            No cluster is configured. Add one under kubernetes.clusterLocatorMethods
            or volumeManager.clusters in app-config.yaml.
          </Typography>
        ) : (
          <>
            <Table size="small" aria-label="Clusters">
              <TableHead>
                <TableRow>
                  <TableCell>Name</TableCell>
                  <TableCell>Source</TableCell>
                  <TableCell>Auth provider</TableCell>
                  <TableCell>Health</TableCell>
                </TableRow>
              </TableHead>
              <TableBody>
                {list.map((cluster: ClusterSummary) => (
                  <TableRow key={cluster.name} data-cluster={cluster.name}>
                    <TableCell component="th" scope="row">
                      <strong>{cluster.title ?? cluster.name}</strong>
                      {cluster.title && (
                        <Typography variant="caption" display="block" color="textSecondary">
                          {cluster.name}
                        </Typography>
                      )}
                    </TableCell>
                    <TableCell>
                      {cluster.source}
                      {cluster.expiresAt && (
                        <Typography variant="caption" display="block" color="textSecondary">
                          until {formatExactTimestamp(cluster.expiresAt)}
                        </Typography>
                      )}
                    </TableCell>
                    <TableCell>{cluster.authProvider ?? '—'}</TableCell>
                    <TableCell>
                      <HealthStatus
                        health={
                          inventory.loading
                            ? { state: 'unknown', text: 'Checking…' }
                            : clusterHealth(cluster.name, inventory.value)
                        }
                      />
                    </TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
            <Typography variant="caption" color="textSecondary">
              Health is what the last inventory read saw. Auth modes offered:{' '}
              {authModes.join(', ') || 'none'}.
            </Typography>
          </>
        )
      }
    </AsyncSection>
  </InfoCard>
);
