import { useMemo, useState } from 'react';
import type {
  Volume,
  VolumesResponse,
} from '@nkvm/backstage-plugin-volume-manager-common';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import MenuItem from '@material-ui/core/MenuItem';
import TextField from '@material-ui/core/TextField';
import RefreshIcon from '@material-ui/icons/Refresh';
import { AsyncSection } from './AsyncSection';
import { AmbiguousOwnershipNotice } from '../AmbiguousOwnershipNotice';
import { InventoryErrorsPanel } from '../EntityVolumeManagerContent/InventoryErrorsPanel';
import { VolumeHistory } from '../VolumeHistory';
import { VolumesTable } from '../VolumesTable';

const ALL = '';
const UNMOUNTED = 'unmounted';
const DAY_MS = 24 * 60 * 60 * 1000;

/** @internal */
export interface InventoryFilters {
  cluster: string;
  namespace: string;
  ownerKind: string;
  /** "No successful backup in N days"; empty when off. */
  staleDays: string;
}

/**
 * Applies the admin page's inventory filters.
 *
 * @internal
 */
export function filterVolumes(
  volumes: Volume[],
  filters: InventoryFilters,
  now: number = Date.now(),
): Volume[] {
  const days = Number(filters.staleDays);
  const cutoff =
    filters.staleDays !== '' && Number.isFinite(days) && days >= 0
      ? now - days * DAY_MS
      : undefined;
  return volumes.filter(v => {
    if (filters.cluster && v.cluster !== filters.cluster) return false;
    if (filters.namespace && v.namespace !== filters.namespace) return false;
    if (filters.ownerKind) {
      const kind = v.owner?.kind ?? UNMOUNTED;
      if (kind !== filters.ownerKind) return false;
    }
    if (cutoff !== undefined) {
      const last = v.lastSuccessfulBackup?.finishedAt;
      if (last && new Date(last).getTime() >= cutoff) return false;
    }
    return true;
  });
}

const options = (values: Iterable<string>) => [...new Set(values)].sort();

/**
 * The inventory across clusters and namespaces, with filters, for administrators.
 *
 * @internal
 */
export const InventoryCard = ({
  inventory,
  onRefresh,
}: {
  inventory: { loading: boolean; error?: Error; value?: VolumesResponse };
  onRefresh(): void;
}) => {
  const [filters, setFilters] = useState<InventoryFilters>({
    cluster: ALL,
    namespace: ALL,
    ownerKind: ALL,
    staleDays: '',
  });
  const items = inventory.value?.items;
  const filtered = useMemo(
    () => (items ? filterVolumes(items, filters) : []),
    [items, filters],
  );
  const set = (key: keyof InventoryFilters) => (e: { target: { value: unknown } }) =>
    setFilters(f => ({ ...f, [key]: String(e.target.value) }));
  const select = (key: keyof InventoryFilters, label: string, values: string[]) => (
    <TextField
      select
      id={`nkvm-inventory-${key}`}
      label={label}
      value={filters[key]}
      onChange={set(key)}
      size="small"
      variant="outlined"
      style={{ minWidth: 160 }}
      SelectProps={{ displayEmpty: true }}
      InputLabelProps={{ shrink: true }}
    >
      <MenuItem value={ALL}>All</MenuItem>
      {values.map(v => (
        <MenuItem key={v} value={v}>
          {v}
        </MenuItem>
      ))}
    </TextField>
  );

  return (
    <AsyncSection
      state={inventory.value ? { loading: false, value: inventory.value } : inventory}
      unavailableTitle="Volume inventory is not available from this backend yet"
      endpoint="GET /api/volume-manager/volumes"
    >
      {value => (
        <>
          {value.errors.length > 0 && (
            <Box mb={2}>
              <InventoryErrorsPanel errors={value.errors} />
            </Box>
          )}
          {value.items.some(v => v.ambiguousOwnership) && (
            <Box mb={2}>
              <AmbiguousOwnershipNotice volumes={value.items} />
            </Box>
          )}
          <Box display="flex" flexWrap="wrap" gridGap={16} mb={2} alignItems="center" role="group" aria-label="Inventory filters">
            {select('cluster', 'Cluster', options(value.items.map(v => v.cluster)))}
            {select(
              'namespace',
              'Namespace',
              options(
                value.items
                  .filter(v => !filters.cluster || v.cluster === filters.cluster)
                  .map(v => v.namespace),
              ),
            )}
            {select(
              'ownerKind',
              'Owner kind',
              options(value.items.map(v => v.owner?.kind ?? UNMOUNTED)),
            )}
            <TextField
              id="nkvm-inventory-stale-days"
              label="No backup in N days"
              type="number"
              value={filters.staleDays}
              onChange={set('staleDays')}
              size="small"
              variant="outlined"
              inputProps={{ min: 0, title: 'PVCs never backed up, or not in this many days' }}
              InputLabelProps={{ shrink: true }}
              placeholder="off"
              style={{ width: 180 }}
            />
            <Button startIcon={<RefreshIcon />} onClick={onRefresh} disabled={inventory.loading}>
              {inventory.loading ? 'Refreshing…' : 'Refresh'}
            </Button>
          </Box>
          <VolumesTable
            title="Inventory"
            volumes={filtered}
            showEntity
            renderDetails={volume => <VolumeHistory volume={volume} />}
          />
        </>
      )}
    </AsyncSection>
  );
};
