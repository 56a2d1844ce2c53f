import { InputError } from '@backstage/errors';
import { parseDocument, YAMLError } from 'yaml';

/** Pasted kubeconfigs larger than this are refused. */
export const MAX_PASTED_KUBECONFIG_BYTES = 64 * 1024;

/** Keys that would make the backend run a program or read a file of its own host. */
const FORBIDDEN_USER_KEYS = ['exec', 'auth-provider', 'tokenFile', 'token-file'];
const FILE_PATH_KEYS = ['certificate-authority', 'client-certificate', 'client-key'];

function isFileKey(key: string): boolean {
  return FILE_PATH_KEYS.includes(key) || /(^|-)file$/i.test(key) || /File$/.test(key);
}

function findForbidden(value: unknown, path: string, problems: string[]) {
  if (Array.isArray(value)) {
    value.forEach((v, i) => findForbidden(v, `${path}[${i}]`, problems));
    return;
  }
  if (!value || typeof value !== 'object') return;
  for (const [key, child] of Object.entries(value)) {
    const where = path ? `${path}.${key}` : key;
    if (FORBIDDEN_USER_KEYS.includes(key)) {
      problems.push(`'${where}' would run code or read files on the backend host`);
    } else if (isFileKey(key)) {
      problems.push(`'${where}' names a file on the backend host; paste the *-data form instead`);
    } else {
      findForbidden(child, where, problems);
    }
  }
}

/**
 * Where parsing failed, never what was there: the parser's own message quotes the offending
 * line, which may hold a token or key.
 */
function whereYamlFailed(error: unknown): string {
  if (error instanceof YAMLError) {
    const at = error.linePos?.[0];
    return ` (${error.code}${at ? ` at line ${at.line}, column ${at.col}` : ''})`;
  }
  return '';
}

export interface PastedKubeconfigSummary {
  contexts: string[];
  currentContext?: string;
}

/**
 * Accepts a pasted kubeconfig only if it is small, well-formed YAML, and can neither run code
 * nor read files on the backend host. Throws InputError (400) naming every problem found.
 */
export function validatePastedKubeconfig(text: string): PastedKubeconfigSummary {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_PASTED_KUBECONFIG_BYTES) {
    throw new InputError(
      `The pasted kubeconfig is ${bytes} bytes; the limit is ${MAX_PASTED_KUBECONFIG_BYTES} bytes`,
    );
  }
  let doc: unknown;
  try {
    // parseDocument rather than parse: parse logs warnings (with content) to the console.
    const parsed = parseDocument(text);
    // Warnings too (an unknown tag): the Kubernetes client's own YAML parser refuses those
    // later with a message that quotes the line.
    if (parsed.errors.length > 0) throw parsed.errors[0];
    if (parsed.warnings.length > 0) throw parsed.warnings[0];
    doc = parsed.toJS({ maxAliasCount: 10 });
  } catch (error) {
    throw new InputError(`The pasted kubeconfig is not valid YAML${whereYamlFailed(error)}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new InputError('The pasted kubeconfig is not a YAML mapping');
  }
  const config = doc as {
    clusters?: unknown;
    users?: unknown;
    contexts?: Array<{ name?: unknown }>;
    'current-context'?: unknown;
  };
  const problems: string[] = [];
  findForbidden(config, '', problems);
  if (problems.length > 0) {
    throw new InputError(`The pasted kubeconfig was refused: ${problems.join('; ')}`);
  }
  if (!Array.isArray(config.clusters) || config.clusters.length === 0) {
    throw new InputError('The pasted kubeconfig has no clusters');
  }
  if (!Array.isArray(config.contexts) || config.contexts.length === 0) {
    throw new InputError('The pasted kubeconfig has no contexts');
  }
  const contexts = config.contexts
    .map(c => (typeof c?.name === 'string' ? c.name : undefined))
    .filter((c): c is string => Boolean(c));
  const current = config['current-context'];
  return {
    contexts,
    currentContext: typeof current === 'string' && current ? current : undefined,
  };
}
