import { useState } from 'react';
import { InfoCard, ResponseErrorPanel } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import type { ClusterSummary } from '@nkvm/backstage-plugin-volume-manager-common';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import TextField from '@material-ui/core/TextField';
import Typography from '@material-ui/core/Typography';
import Alert from '@material-ui/lab/Alert';
import { volumeManagerApiRef } from '../../api';
import { isDnsLabel } from '../../kubernetesNames';
import { formatExactTimestamp } from '../VolumesTable/format';

/**
 * Paste a kubeconfig for a short troubleshooting session (`POST /clusters/session`). The page
 * shows this card only to users with `volume-manager.cluster.session.create`.
 *
 * @internal
 */
export const ClusterSessionCard = ({ onCreated }: { onCreated(): void }) => {
  const api = useApi(volumeManagerApiRef);
  const [name, setName] = useState('');
  const [context, setContext] = useState('');
  const [kubeconfig, setKubeconfig] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const [created, setCreated] = useState<ClusterSummary>();
  const nameValid = name === '' || isDnsLabel(name);

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const summary = await api.createClusterSession({
        name,
        kubeconfig,
        context: context || undefined,
      });
      setCreated(summary);
      setKubeconfig('');
      onCreated();
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <InfoCard title="Paste a kubeconfig">
      <Typography variant="body2" paragraph>
        For troubleshooting: the backend keeps the credentials in memory only, for you only,
        until the session expires. Kubeconfigs that would run commands or read files on the
        backend host (exec, auth-provider, token or certificate files) are refused.
      </Typography>
      <form onSubmit={submit} aria-label="Paste a kubeconfig">
        <Box display="flex" gridGap={16} flexWrap="wrap" mb={2}>
          <TextField
            id="nkvm-session-name"
            label="Cluster name"
            required
            value={name}
            onChange={e => setName(e.target.value)}
            error={!nameValid}
            helperText={nameValid ? 'Lowercase letters, digits and -' : 'Must be a DNS-1123 label'}
            size="small"
            variant="outlined"
          />
          <TextField
            id="nkvm-session-context"
            label="Context (optional)"
            value={context}
            onChange={e => setContext(e.target.value)}
            helperText="The kubeconfig's current context when empty"
            size="small"
            variant="outlined"
          />
        </Box>
        <TextField
          id="nkvm-session-kubeconfig"
          label="kubeconfig"
          required
          multiline
          minRows={6}
          maxRows={16}
          fullWidth
          value={kubeconfig}
          onChange={e => setKubeconfig(e.target.value)}
          variant="outlined"
          inputProps={{ spellCheck: false, style: { fontFamily: 'monospace' } }}
          autoComplete="off"
        />
        <Box mt={2}>
          <Button
            type="submit"
            variant="contained"
            color="primary"
            disabled={busy || !name || !nameValid || !kubeconfig}
          >
            {busy ? 'Connecting…' : 'Start session'}
          </Button>
        </Box>
      </form>
      {created && (
        <Box mt={2}>
          <Alert severity="success">
            Cluster {created.name} is available
            {created.expiresAt ? ` until ${formatExactTimestamp(created.expiresAt)}` : ''}.
          </Alert>
        </Box>
      )}
      {error && (
        <Box mt={2}>
          <ResponseErrorPanel error={error} title="The kubeconfig was not accepted" />
        </Box>
      )}
    </InfoCard>
  );
};
