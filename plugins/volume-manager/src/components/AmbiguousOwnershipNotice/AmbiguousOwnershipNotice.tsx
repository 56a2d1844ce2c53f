import type { Volume } from '@nkvm/backstage-plugin-volume-manager-common';
import Alert from '@material-ui/lab/Alert';
import AlertTitle from '@material-ui/lab/AlertTitle';
import { shortEntityRef, volumeKey } from '../VolumesTable/format';

/** @internal */
export interface AmbiguousOwnershipNoticeProps {
  volumes: Volume[];
}

/**
 * Says which PVCs more than one catalog entity claims, and what that means: no entity owns
 * them, so only users the permission policy allows everything (administrators) may back them up,
 * download their archives or read their history. Renders nothing when there are none.
 *
 * @internal
 */
export const AmbiguousOwnershipNotice = ({ volumes }: AmbiguousOwnershipNoticeProps) => {
  const ambiguous = volumes.filter(v => v.ambiguousOwnership);
  if (ambiguous.length === 0) return null;
  return (
    <Alert severity="warning" data-testid="ambiguous-ownership-notice">
      <AlertTitle>
        {ambiguous.length === 1
          ? '1 volume is claimed by more than one catalog entity'
          : `${ambiguous.length} volumes are claimed by more than one catalog entity`}
      </AlertTitle>
      Several entities' Kubernetes annotations match these volumes, so none of them owns them:
      only administrators may back them up, download their archives or see their history. Ask
      the owners of the other entities to narrow their <code>backstage.io/kubernetes-id</code>,
      label selector or namespace annotations, or ask the platform team to bind the namespace to
      its owner (<code>volumeManager.ownership</code>).
      <ul>
        {ambiguous.map(v => (
          <li key={volumeKey(v)}>
            <strong>
              {v.cluster}/{v.namespace}/{v.name}
            </strong>
            : claimed by {v.ambiguousOwnership!.entityRefs.map(shortEntityRef).join(', ')}
          </li>
        ))}
      </ul>
    </Alert>
  );
};
