import type { ReactElement } from 'react';
import { EmptyState } from '@backstage/core-components';

/** @internal */
export interface EndpointUnavailableProps {
  /** Headline, for example "Volume inventory is not available from this backend yet". */
  title: string;
  /** The route the backend did not serve, for example `GET /api/volume-manager/volumes`. */
  endpoint: string;
  /** More explanation below the description. */
  action?: ReactElement;
}

/**
 * Honest state for a feature whose backend route does not exist (yet): the installed
 * volume-manager backend answered `404` without an error body, or `501`.
 *
 * @internal
 */
export const EndpointUnavailable = ({
  title,
  endpoint,
  action,
}: EndpointUnavailableProps) => (
  <EmptyState
    missing="info"
    title={title}
    description={`The volume-manager backend answered ${endpoint} with "not found": the installed backend plugin does not provide this route. Upgrade @nkvm/backstage-plugin-volume-manager-backend to a version that does; nothing is shown here until then.`}
    action={action}
  />
);
