import type { AdHocDestination } from '@nkvm/backstage-plugin-volume-manager-common';
import Box from '@material-ui/core/Box';
import MenuItem from '@material-ui/core/MenuItem';
import TextField from '@material-ui/core/TextField';
import Typography from '@material-ui/core/Typography';

/** The value id of the "one-off destination" entry of the destination picker. */
export const AD_HOC_DESTINATION = '__ad-hoc__';

/** What the form holds; `port` stays text until it is sent. */
export interface AdHocDraft {
  type: AdHocDestination['type'];
  host: string;
  port: string;
  username: string;
  password: string;
  privateKey: string;
  remoteDir: string;
  hostKeySha256: string;
}

export const emptyAdHocDraft: AdHocDraft = {
  type: 'scp',
  host: '',
  port: '',
  username: '',
  password: '',
  privateKey: '',
  remoteDir: '',
  hostKeySha256: '',
};

/** The request body of a draft, or a reason why it is not complete. */
export function toAdHocDestination(draft: AdHocDraft): AdHocDestination | string {
  if (!draft.host.trim()) return 'Enter the host';
  if (!draft.username.trim()) return 'Enter the user name';
  if (!draft.remoteDir.trim()) return 'Enter the remote directory';
  const port = draft.port.trim() ? Number(draft.port) : undefined;
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
    return 'The port must be a number from 1 to 65535';
  }
  const sshLike = draft.type === 'scp' || draft.type === 'rsync';
  return {
    type: draft.type,
    host: draft.host.trim(),
    ...(port !== undefined && { port }),
    username: draft.username.trim(),
    ...(draft.password && { password: draft.password }),
    ...(sshLike && draft.privateKey.trim() && { privateKey: draft.privateKey }),
    remoteDir: draft.remoteDir.trim(),
    ...(sshLike && draft.hostKeySha256.trim() && { hostKeySha256: draft.hostKeySha256.trim() }),
  };
}

/**
 * A destination typed in for one run, as the original product allowed. The backend uses it once
 * and never stores or logs it.
 *
 * @internal
 */
export const AdHocDestinationForm = ({
  draft,
  onChange,
}: {
  draft: AdHocDraft;
  onChange(draft: AdHocDraft): void;
}) => {
  const field = (key: keyof AdHocDraft) => ({
    id: `nkvm-adhoc-${key}`,
    value: draft[key],
    onChange: (e: { target: { value: string } }) => onChange({ ...draft, [key]: e.target.value }),
    size: 'small' as const,
    variant: 'outlined' as const,
    autoComplete: 'off',
  });
  const sshLike = draft.type === 'scp' || draft.type === 'rsync';
  return (
    <Box component="fieldset" border={0} p={0} m={0} mb={2}>
      <Typography component="legend" variant="subtitle2" gutterBottom>
        One-off destination (used for this run only, never stored)
      </Typography>
      <Box display="flex" flexWrap="wrap" gridGap={12}>
        <TextField select label="Protocol" {...field('type')} style={{ width: 110 }}>
          {(['scp', 'rsync', 'ftps', 'ftp'] as const).map(t => (
            <MenuItem key={t} value={t}>
              {t.toUpperCase()}
            </MenuItem>
          ))}
        </TextField>
        <TextField label="Host" required {...field('host')} />
        <TextField label="Port" {...field('port')} style={{ width: 90 }} inputProps={{ inputMode: 'numeric' }} />
        <TextField label="User" required {...field('username')} />
        <TextField label="Password" type="password" {...field('password')} />
        <TextField label="Remote directory" required {...field('remoteDir')} />
        {sshLike && (
          <>
            <TextField label="Host key sha256 (recommended)" {...field('hostKeySha256')} />
            <TextField
              label="Private key (PEM)"
              multiline
              minRows={2}
              fullWidth
              {...field('privateKey')}
              inputProps={{ spellCheck: false, style: { fontFamily: 'monospace' } }}
            />
          </>
        )}
      </Box>
      {draft.type === 'ftp' && (
        <Typography variant="caption" color="error">
          Plain FTP sends the password and the archive unencrypted.
        </Typography>
      )}
    </Box>
  );
};
