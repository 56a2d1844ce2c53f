import { WarningPanel } from '@backstage/core-components';
import type { InventoryError } from '@nkvm/backstage-plugin-volume-manager-common';

/** @internal */
export interface InventoryErrorsPanelProps {
  errors: InventoryError[];
}

const where = (error: InventoryError) =>
  error.namespace ? `${error.cluster}/${error.namespace}` : error.cluster;

/**
 * Partial inventory failures (one cluster or namespace that could not be read). The volumes
 * shown beside it are still valid.
 *
 * @internal
 */
export const InventoryErrorsPanel = ({ errors }: InventoryErrorsPanelProps) => (
  <WarningPanel
    title={`Part of the inventory could not be read (${errors.length})`}
    defaultExpanded
    message="The volumes below are complete for every other cluster and namespace."
  >
    <ul>
      {errors.map(error => (
        <li key={`${where(error)}:${error.errorType}`}>
          <strong>{where(error)}</strong> ({error.errorType}): {error.message}
        </li>
      ))}
    </ul>
  </WarningPanel>
);
