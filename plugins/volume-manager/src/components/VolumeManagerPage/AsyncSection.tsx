import type { ReactElement } from 'react';
import { Progress, ResponseErrorPanel } from '@backstage/core-components';
import { isEndpointUnavailable } from '../../api';
import { EndpointUnavailable } from '../EndpointUnavailable';

/** @internal */
export interface AsyncSectionProps<T> {
  state: { loading: boolean; error?: Error; value?: T };
  /** Shown when the backend does not serve the route yet. */
  unavailableTitle: string;
  endpoint: string;
  children: (value: T) => ReactElement;
}

/**
 * Renders one API call's state: `Progress` while loading, the honest "not available" state
 * when the route does not exist, `ResponseErrorPanel` for other failures, else `children`.
 *
 * @internal
 */
export function AsyncSection<T>({
  state,
  unavailableTitle,
  endpoint,
  children,
}: AsyncSectionProps<T>) {
  if (state.loading) {
    return <Progress />;
  }
  if (state.error) {
    return isEndpointUnavailable(state.error) ? (
      <EndpointUnavailable title={unavailableTitle} endpoint={endpoint} />
    ) : (
      <ResponseErrorPanel error={state.error} />
    );
  }
  if (state.value === undefined) {
    return <Progress />;
  }
  return children(state.value);
}
