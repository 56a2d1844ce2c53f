/** Reads the Dockerfile's runtime stage: ENV defaults, ENTRYPOINT, USER, HEALTHCHECK. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './repo';

export interface RuntimeStage {
  env: Record<string, string>;
  entrypoint: string[];
  user: string;
  healthcheck: string[];
  workdir: string;
  args: Record<string, string>;
}

/** Instructions with their continuation lines joined. */
function instructions(text: string): string[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map(l => l.trim())
    .filter(l => l && !l.startsWith('#'));
}

export function readRuntimeStage(file = path.join(REPO_ROOT, 'Dockerfile')): RuntimeStage {
  const lines = instructions(readFileSync(file, 'utf8'));
  const stages = lines.reduce<string[][]>((acc, l) => {
    if (/^FROM\s/i.test(l)) acc.push([]);
    acc[acc.length - 1]?.push(l);
    return acc;
  }, []);
  const last = stages[stages.length - 1];
  const args: Record<string, string> = {};
  for (const l of lines.filter(x => /^ARG\s/.test(x))) {
    const m = /^ARG\s+(\w+)(?:=(\S+))?/.exec(l)!;
    if (m[2] !== undefined) args[m[1]] = m[2];
  }
  const expand = (s: string) => s.replace(/\$\{(\w+)\}/g, (_, k) => args[k] ?? '');
  const env: Record<string, string> = {};
  for (const l of last.filter(x => /^ENV\s/.test(x))) {
    for (const m of l.slice(4).matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[m[1]] = m[2].replace(/^"|"$/g, '');
  }
  const json = (prefix: RegExp) => {
    const l = last.find(x => prefix.test(x));
    if (!l) throw new Error(`no ${prefix} in the runtime stage`);
    return JSON.parse(l.replace(prefix, '').trim()) as string[];
  };
  const hc = last.find(x => /^HEALTHCHECK\s/.test(x));
  return {
    env,
    entrypoint: json(/^ENTRYPOINT\s+/),
    user: expand(last.find(x => /^USER\s/.test(x))!.slice(5).trim()),
    healthcheck: hc ? JSON.parse(hc.slice(hc.indexOf('CMD') + 3).trim()) : [],
    workdir: last.find(x => /^WORKDIR\s/.test(x))!.slice(8).trim(),
    args,
  };
}
