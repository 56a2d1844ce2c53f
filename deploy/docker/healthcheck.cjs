// The image's HEALTHCHECK (and a handy probe for `docker exec`): exit 0 when the volume-manager
// backend answers GET /api/volume-manager/health. No curl in the slim base image, so Node does it.
const port = process.env.NKVM_HEALTHCHECK_PORT || '7007';
const url = `http://127.0.0.1:${port}/api/volume-manager/health`;
fetch(url, { signal: AbortSignal.timeout(4000) })
  .then(res => process.exit(res.ok ? 0 : 1))
  .catch(() => process.exit(1));
