/* Builds the ExecTarget from an exec request's query, as the API server does. */
import type * as http from 'node:http';
import type { ExecTarget } from '../types';

export type TargetOverrides = Partial<Omit<ExecTarget, 'command' | 'stdin' | 'stdout' | 'stderr' | 'tty' | 'container'>>;

/** Builds the ExecTarget from the request the way the API server does (query parameters). */
export function targetFromRequest(req: http.IncomingMessage, overrides: TargetOverrides): ExecTarget {
  const u = new URL(req.url ?? '/', 'http://x');
  const flag = (k: string) => u.searchParams.get(k) === 'true' || u.searchParams.get(k) === '1';
  return {
    command: u.searchParams.getAll('command'),
    container: u.searchParams.get('container') ?? 'main',
    stdin: flag('stdin'),
    stdout: flag('stdout'),
    stderr: flag('stderr'),
    tty: flag('tty'),
    mounts: [],
    ...overrides,
  };
}

