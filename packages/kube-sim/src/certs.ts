/** A self-signed CA and a serving certificate, generated with the `openssl` CLI. */
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TlsMaterial {
  caCert: string;
  cert: string;
  key: string;
  dir: string;
}

/**
 * Creates `<dir>/ca.crt`, `ca.key`, `tls.crt`, `tls.key` (EC P-256) unless they already exist,
 * so a reused data dir keeps its CA and old kubeconfigs stay valid.
 */
export async function ensureTls(dir: string, hosts: string[] = ['127.0.0.1', 'localhost', '::1']): Promise<TlsMaterial> {
  await fs.mkdir(dir, { recursive: true });
  const f = (n: string) => path.join(dir, n);
  if (![f('ca.crt'), f('tls.crt'), f('tls.key')].every(p => existsSync(p))) {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    await run('openssl', [
      'req', '-x509', ...ec, '-days', '3650', '-subj', '/CN=kube-sim-ca',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout', f('ca.key'), '-out', f('ca.crt'),
    ]);
    await run('openssl', ['req', ...ec, '-subj', '/CN=kube-apiserver', '-keyout', f('tls.key'), '-out', f('tls.csr')]);
    const san = hosts.map(h => (/^[\d.]+$/.test(h) || h.includes(':') ? `IP:${h}` : `DNS:${h}`)).join(',');
    await fs.writeFile(
      f('ext.cnf'),
      `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=critical,CA:FALSE\n`,
    );
    await run('openssl', [
      'x509', '-req', '-in', f('tls.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial',
      '-days', '3650', '-out', f('tls.crt'), '-extfile', f('ext.cnf'),
    ]);
  }
  const [caCert, cert, key] = await Promise.all([fs.readFile(f('ca.crt'), 'utf8'), fs.readFile(f('tls.crt'), 'utf8'), fs.readFile(f('tls.key'), 'utf8')]);
  return { caCert, cert, key, dir };
}
