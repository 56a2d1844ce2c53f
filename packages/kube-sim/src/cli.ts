/**
 * kube-sim CLI:
 *   npm run kube-sim -- --fixture demo|scale|PATH --port 6443 --data-dir DIR --kubeconfig-out PATH [--http]
 * Prints `kube-sim ready <url>` on stdout once it serves; stops cleanly on SIGINT/SIGTERM.
 */
import { startKubeSim, type KubeSimOptions } from './sim';

const USAGE = `usage: kube-sim [--fixture demo|scale|PATH] [--port 6443] [--host 127.0.0.1] [--data-dir DIR]
                [--kubeconfig-out PATH] [--http] [--running-delay-ms N]
                [--admin-token T] [--restricted-token T]`;

export function parseArgs(argv: string[]): KubeSimOptions {
  const opts: KubeSimOptions = { fixture: 'demo', port: 6443 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    switch (flag) {
      case '--fixture':
        opts.fixture = value();
        break;
      case '--port':
        opts.port = Number(value());
        if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error(`invalid --port\n${USAGE}`);
        break;
      case '--host':
        opts.host = value();
        break;
      case '--data-dir':
        opts.dataDir = value();
        break;
      case '--kubeconfig-out':
        opts.kubeconfigPath = value();
        break;
      case '--http':
        opts.http = true;
        break;
      case '--running-delay-ms':
        opts.runningDelayMs = Number(value());
        break;
      case '--admin-token':
        opts.adminToken = value();
        break;
      case '--restricted-token':
        opts.restrictedToken = value();
        break;
      case '-h':
      case '--help':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${a}\n${USAGE}`);
    }
  }
  return opts;
}

async function main(): Promise<void> {
  let opts: KubeSimOptions;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(2);
  }
  const sim = await startKubeSim(opts);
  process.stderr.write(`kube-sim: fixture ${typeof opts.fixture === 'string' ? opts.fixture : 'object'}, data dir ${sim.dataDir}, kubeconfig ${opts.kubeconfigPath ?? sim.kubeconfigPath}\n`);
  process.stdout.write(`kube-sim ready ${sim.url}\n`);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`kube-sim: ${signal}, shutting down\n`);
    sim.stop().then(
      () => process.exit(0),
      err => {
        process.stderr.write(`kube-sim: stop failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

if (require.main === module) {
  main().catch(err => {
    process.stderr.write(`kube-sim: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
}
