/*
 * The fake apiserver + exec handler in a process of its own, so that the
 * backpressure test can measure the server's RSS honestly.
 * argv: <workdir> <pv dir>; prints {"url":…,"kubeconfig":…} on stdout and
 * exits when its stdin closes.
 */
import { startFakeApiServer } from './fake-apiserver';

(async () => {
  const [dir, pv] = process.argv.slice(2);
  const api = await startFakeApiServer(dir);
  if (pv) api.overrides = { mounts: [{ hostPath: pv, mountPath: '/data', readOnly: true }] };
  process.stdout.write(`${JSON.stringify({ url: api.url, kubeconfig: api.kubeconfig })}\n`);
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
})();
