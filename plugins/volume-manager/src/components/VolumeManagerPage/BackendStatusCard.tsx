import {
  InfoCard,
  Progress,
  ResponseErrorPanel,
  StatusError,
  StatusOK,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import Typography from '@material-ui/core/Typography';
import useAsync from 'react-use/esm/useAsync';
import { volumeManagerApiRef } from '../../api';

/**
 * Liveness of the volume-manager backend (`GET /health`).
 *
 * @internal
 */
export const BackendStatusCard = () => {
  const api = useApi(volumeManagerApiRef);
  const { loading, error, value } = useAsync(() => api.getHealth(), [api]);

  let content;
  if (loading) {
    content = <Progress />;
  } else if (error) {
    content = (
      <>
        <Typography paragraph>
          <StatusError>The backend did not answer /health</StatusError>
        </Typography>
        <ResponseErrorPanel error={error} />
      </>
    );
  } else {
    content = (
      <Typography>
        <StatusOK>Backend reachable (status: {value?.status})</StatusOK>
      </Typography>
    );
  }
  return <InfoCard title="Backend">{content}</InfoCard>;
};
