import { Fragment, useMemo, useState, type ReactNode } from 'react';
import type {
  BackupItem,
  Volume,
} from '@nkvm/backstage-plugin-volume-manager-common';
import Box from '@material-ui/core/Box';
import Checkbox from '@material-ui/core/Checkbox';
import Chip from '@material-ui/core/Chip';
import IconButton from '@material-ui/core/IconButton';
import InputAdornment from '@material-ui/core/InputAdornment';
import Paper from '@material-ui/core/Paper';
import Table from '@material-ui/core/Table';
import TableBody from '@material-ui/core/TableBody';
import TableCell from '@material-ui/core/TableCell';
import TableContainer from '@material-ui/core/TableContainer';
import TableHead from '@material-ui/core/TableHead';
import TablePagination from '@material-ui/core/TablePagination';
import TableRow from '@material-ui/core/TableRow';
import TableSortLabel from '@material-ui/core/TableSortLabel';
import TextField from '@material-ui/core/TextField';
import Toolbar from '@material-ui/core/Toolbar';
import Tooltip from '@material-ui/core/Tooltip';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import KeyboardArrowDownIcon from '@material-ui/icons/KeyboardArrowDown';
import KeyboardArrowRightIcon from '@material-ui/icons/KeyboardArrowRight';
import SearchIcon from '@material-ui/icons/Search';
import WarningIcon from '@material-ui/icons/Warning';
import { BackupProgress } from '../BackupProgress';
import { StatusChip } from '../StatusChip';
import {
  capacityBytes,
  formatCapacity,
  formatExactTimestamp,
  formatOwner,
  formatRelativeTime,
  mountNodes,
  shortEntityRef,
  volumeKey,
} from './format';

/** Controlled selection of PVCs, by {@link volumeKey}. @internal */
export interface VolumeSelection {
  selected: ReadonlySet<string>;
  onChange(next: Set<string>): void;
}

/** @internal */
export interface VolumesTableProps {
  volumes: Volume[];
  title?: string;
  /** Shows checkboxes when set. */
  selection?: VolumeSelection;
  /** Live backup items by {@link volumeKey}: shown as a progress row under the PVC. */
  activeItems?: ReadonlyMap<string, BackupItem>;
  /** Adds a column with the matched catalog entity (admin page). */
  showEntity?: boolean;
  /** The content of a PVC's expandable details row (its backup history). */
  renderDetails?: (volume: Volume) => ReactNode;
  /** Buttons and pickers in the table's toolbar. */
  actions?: ReactNode;
  /** Rows per page at first. */
  pageSize?: number;
}

type SortKey =
  | 'name'
  | 'namespace'
  | 'cluster'
  | 'entity'
  | 'owner'
  | 'capacity'
  | 'storageClass'
  | 'accessModes'
  | 'node'
  | 'lastBackup'
  | 'status';

interface Column {
  key: SortKey;
  title: string;
  value: (v: Volume) => string | number;
}

const COLUMNS: Column[] = [
  { key: 'name', title: 'Name', value: v => v.name },
  { key: 'namespace', title: 'Namespace', value: v => v.namespace },
  { key: 'cluster', title: 'Cluster', value: v => v.cluster },
  { key: 'entity', title: 'Entity', value: v => v.entityRef ?? (v.ambiguousOwnership ? 'ambiguous' : '') },
  { key: 'owner', title: 'Owner', value: formatOwner },
  { key: 'capacity', title: 'Capacity', value: v => capacityBytes(v) ?? -1 },
  { key: 'storageClass', title: 'Storage class', value: v => v.storageClass ?? '' },
  { key: 'accessModes', title: 'Access modes', value: v => v.accessModes.join(',') },
  { key: 'node', title: 'Mount node', value: v => mountNodes(v).join(',') },
  {
    key: 'lastBackup',
    title: 'Last successful backup',
    value: v => v.lastSuccessfulBackup?.finishedAt ?? '',
  },
  { key: 'status', title: 'Last status', value: v => v.lastStatus ?? '' },
];

const useStyles = makeStyles(theme => ({
  toolbar: {
    paddingLeft: theme.spacing(2),
    paddingRight: theme.spacing(2),
    gap: theme.spacing(2),
    flexWrap: 'wrap',
  },
  title: { flex: '1 1 auto' },
  detailsCell: {
    backgroundColor: theme.palette.background.default,
    paddingTop: theme.spacing(1),
    paddingBottom: theme.spacing(2),
  },
  progressCell: { borderBottom: 'none', paddingTop: 0 },
  nowrap: { whiteSpace: 'nowrap' },
  ambiguousChip: { marginLeft: theme.spacing(1) },
}));

function sortDirection(
  sort: { key: SortKey; asc: boolean },
  key: SortKey,
): 'asc' | 'desc' | false {
  if (sort.key !== key) return false;
  return sort.asc ? 'asc' : 'desc';
}

function searchText(volume: Volume): string {
  return [
    volume.name,
    volume.namespace,
    volume.cluster,
    volume.entityRef ?? '',
    ...(volume.ambiguousOwnership?.entityRefs ?? []),
    formatOwner(volume),
    volume.storageClass ?? '',
    volume.accessModes.join(' '),
    mountNodes(volume).join(' '),
    volume.lastStatus ?? '',
  ]
    .join(' ')
    .toLowerCase();
}

/**
 * The PVC table of the Volumes tab and the admin page: search, sort, paging, optional
 * multi-select, live progress rows and expandable details. Built from Material UI table parts so
 * that selection stays controlled while progress updates arrive.
 *
 * @internal
 */
export const VolumesTable = ({
  volumes,
  title = 'Persistent volume claims',
  selection,
  activeItems,
  showEntity = false,
  renderDetails,
  actions,
  pageSize = 25,
}: VolumesTableProps) => {
  const classes = useStyles();
  const [search, setSearch] = useState('');
  const [sort, setSort] = useState<{ key: SortKey; asc: boolean }>({
    key: 'name',
    asc: true,
  });
  const [page, setPage] = useState(0);
  const [rowsPerPage, setRowsPerPage] = useState(pageSize);
  const [expanded, setExpanded] = useState<ReadonlySet<string>>(new Set());

  const columns = useMemo(
    () => COLUMNS.filter(c => showEntity || c.key !== 'entity'),
    [showEntity],
  );

  const rows = useMemo(() => {
    const term = search.trim().toLowerCase();
    const filtered = term
      ? volumes.filter(v => searchText(v).includes(term))
      : volumes.slice();
    const column = COLUMNS.find(c => c.key === sort.key)!;
    filtered.sort((a, b) => {
      const x = column.value(a);
      const y = column.value(b);
      const order =
        typeof x === 'number' && typeof y === 'number'
          ? x - y
          : String(x).localeCompare(String(y));
      return (sort.asc ? order : -order) || volumeKey(a).localeCompare(volumeKey(b));
    });
    return filtered;
  }, [volumes, search, sort]);

  const lastPage = Math.max(0, Math.ceil(rows.length / rowsPerPage) - 1);
  const currentPage = Math.min(page, lastPage);
  const visible = rows.slice(
    currentPage * rowsPerPage,
    currentPage * rowsPerPage + rowsPerPage,
  );

  const selectedCount = selection ? rows.filter(v => selection.selected.has(volumeKey(v))).length : 0;
  const allSelected = rows.length > 0 && selectedCount === rows.length;

  const toggleAll = () => {
    if (!selection) return;
    const next = new Set(selection.selected);
    for (const v of rows) {
      if (allSelected) next.delete(volumeKey(v));
      else next.add(volumeKey(v));
    }
    selection.onChange(next);
  };
  const toggle = (key: string) => {
    if (!selection) return;
    const next = new Set(selection.selected);
    if (next.has(key)) next.delete(key);
    else next.add(key);
    selection.onChange(next);
  };
  const toggleExpanded = (key: string) => {
    const next = new Set(expanded);
    if (next.has(key)) next.delete(key);
    else next.add(key);
    setExpanded(next);
  };

  const span = columns.length + (selection ? 1 : 0) + (renderDetails ? 1 : 0);

  return (
    <Paper>
      <Toolbar className={classes.toolbar}>
        <Typography variant="h5" component="h2" className={classes.title}>
          {title} ({volumes.length})
        </Typography>
        {selection && (
          <Typography variant="body2" color="textSecondary" aria-live="polite">
            {selection.selected.size} selected
          </Typography>
        )}
        {actions}
        <TextField
          placeholder="Filter"
          value={search}
          onChange={e => {
            setSearch(e.target.value);
            setPage(0);
          }}
          inputProps={{ 'aria-label': 'Filter volumes' }}
          InputProps={{
            startAdornment: (
              <InputAdornment position="start">
                <SearchIcon fontSize="small" />
              </InputAdornment>
            ),
          }}
        />
      </Toolbar>
      <TableContainer>
        <Table size="small" aria-label={title}>
          <TableHead>
            <TableRow>
              {selection && (
                <TableCell padding="checkbox">
                  <Checkbox
                    checked={allSelected}
                    indeterminate={selectedCount > 0 && !allSelected}
                    onChange={toggleAll}
                    disabled={rows.length === 0}
                    inputProps={{
                      'aria-label': `Select all ${rows.length} volumes`,
                    }}
                  />
                </TableCell>
              )}
              {renderDetails && (
                <TableCell padding="checkbox">
                  <Typography variant="srOnly">History</Typography>
                </TableCell>
              )}
              {columns.map(column => (
                <TableCell
                  key={column.key}
                  sortDirection={sortDirection(sort, column.key)}
                  className={classes.nowrap}
                >
                  <TableSortLabel
                    active={sort.key === column.key}
                    direction={sort.key === column.key && !sort.asc ? 'desc' : 'asc'}
                    onClick={() =>
                      setSort(s => ({
                        key: column.key,
                        asc: s.key === column.key ? !s.asc : true,
                      }))
                    }
                  >
                    {column.title}
                  </TableSortLabel>
                </TableCell>
              ))}
            </TableRow>
          </TableHead>
          <TableBody>
            {visible.length === 0 && (
              <TableRow>
                <TableCell colSpan={span}>
                  <Typography variant="body2" color="textSecondary">
                    No volume matches “{search}”.
                  </Typography>
                </TableCell>
              </TableRow>
            )}
            {visible.map(volume => {
              const key = volumeKey(volume);
              const active = activeItems?.get(key);
              const isExpanded = expanded.has(key);
              const nodes = mountNodes(volume);
              const last = volume.lastSuccessfulBackup;
              return (
                <Fragment key={key}>
                  <TableRow
                    hover
                    selected={selection?.selected.has(key)}
                    data-volume={key}
                  >
                    {selection && (
                      <TableCell padding="checkbox">
                        <Checkbox
                          checked={selection.selected.has(key)}
                          onChange={() => toggle(key)}
                          inputProps={{ 'aria-label': `Select ${volume.namespace}/${volume.name}` }}
                        />
                      </TableCell>
                    )}
                    {renderDetails && (
                      <TableCell padding="checkbox">
                        <IconButton
                          size="small"
                          onClick={() => toggleExpanded(key)}
                          aria-expanded={isExpanded}
                          aria-label={`${isExpanded ? 'Hide' : 'Show'} the backup history of ${volume.name}`}
                        >
                          {isExpanded ? <KeyboardArrowDownIcon /> : <KeyboardArrowRightIcon />}
                        </IconButton>
                      </TableCell>
                    )}
                    <TableCell component="th" scope="row" className={classes.nowrap}>
                      <strong>{volume.name}</strong>
                      {volume.ambiguousOwnership && (
                        <Tooltip
                          title={`Claimed by ${volume.ambiguousOwnership.entityRefs.map(shortEntityRef).join(', ')}: no entity owns it, only administrators may back it up`}
                        >
                          <Chip
                            size="small"
                            label="no owner"
                            icon={<WarningIcon />}
                            className={classes.ambiguousChip}
                            data-testid="ambiguous-ownership"
                          />
                        </Tooltip>
                      )}
                    </TableCell>
                    <TableCell>{volume.namespace}</TableCell>
                    <TableCell>{volume.cluster}</TableCell>
                    {showEntity && (
                      <TableCell
                        className={classes.nowrap}
                        title={volume.entityRef ?? volume.ambiguousOwnership?.entityRefs.join(', ')}
                      >
                        {volume.entityRef ? shortEntityRef(volume.entityRef) : null}
                        {!volume.entityRef && volume.ambiguousOwnership ? 'ambiguous' : null}
                        {!volume.entityRef && !volume.ambiguousOwnership ? '—' : null}
                      </TableCell>
                    )}
                    <TableCell className={classes.nowrap}>{formatOwner(volume)}</TableCell>
                    <TableCell className={classes.nowrap}>{formatCapacity(volume)}</TableCell>
                    <TableCell>{volume.storageClass ?? '—'}</TableCell>
                    <TableCell>{volume.accessModes.join(', ') || '—'}</TableCell>
                    <TableCell>{nodes.length ? nodes.join(', ') : '—'}</TableCell>
                    <TableCell className={classes.nowrap} data-testid="last-backup">
                      {last ? (
                        <Tooltip title={formatExactTimestamp(last.finishedAt)}>
                          <time dateTime={last.finishedAt}>
                            {formatRelativeTime(last.finishedAt)}
                          </time>
                        </Tooltip>
                      ) : (
                        <Typography variant="body2" color="textSecondary" component="span">
                          Never
                        </Typography>
                      )}
                    </TableCell>
                    <TableCell>
                      <StatusChip status={active?.status ?? volume.lastStatus} />
                    </TableCell>
                  </TableRow>
                  {active && (
                    <TableRow>
                      <TableCell colSpan={span} className={classes.progressCell}>
                        <BackupProgress item={active} capacityBytes={capacityBytes(volume)} />
                      </TableCell>
                    </TableRow>
                  )}
                  {renderDetails && isExpanded && (
                    <TableRow>
                      <TableCell colSpan={span} className={classes.detailsCell}>
                        <Box pl={6}>{renderDetails(volume)}</Box>
                      </TableCell>
                    </TableRow>
                  )}
                </Fragment>
              );
            })}
          </TableBody>
        </Table>
      </TableContainer>
      {rows.length > 25 ? (
        <TablePagination
          component="div"
          count={rows.length}
          page={currentPage}
          rowsPerPage={rowsPerPage}
          rowsPerPageOptions={[25, 50, 100]}
          onPageChange={(_e, p) => setPage(p)}
          onRowsPerPageChange={e => {
            setRowsPerPage(Number(e.target.value));
            setPage(0);
          }}
        />
      ) : null}
    </Paper>
  );
};
