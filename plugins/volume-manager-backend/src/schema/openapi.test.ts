import { readFileSync } from 'node:fs';
import path from 'node:path';
import type express from 'express';
import { parse as parseYaml } from 'yaml';
import { createRouter, type RouterOptions } from '../router';

/**
 * Routes the spec describes that another branch adds to the router (the restore API). Each
 * entry must NOT be served yet: once the router serves one, this test fails until the entry is
 * deleted here. The integrator empties this list when the restore routes have merged.
 */
const PENDING_ROUTES: readonly string[] = [
  'GET /restores',
  'POST /restores',
  'GET /restores/{id}',
  'POST /restores/{id}/cancel',
];

const HTTP_METHODS = [
  'get',
  'put',
  'post',
  'delete',
  'options',
  'head',
  'patch',
  'trace',
];

type Spec = {
  openapi: string;
  paths: Record<string, Record<string, any>>;
  components?: Record<string, Record<string, unknown>>;
};

function loadSpec(): Spec {
  return parseYaml(readFileSync(path.join(__dirname, 'openapi.yaml'), 'utf8'));
}

/** `METHOD /path/{param}` for every operation of the spec. */
function specRoutes(spec: Spec): string[] {
  const routes: string[] = [];
  for (const [p, item] of Object.entries(spec.paths ?? {})) {
    for (const method of Object.keys(item)) {
      if (HTTP_METHODS.includes(method))
        routes.push(`${method.toUpperCase()} ${p}`);
    }
  }
  return routes.sort();
}

/** Express 4 keeps a mounted router's path only as a regexp; decode the static ones. */
function mountPrefix(layer: any): string {
  if (layer.regexp?.fast_slash) return '';
  const match = /^\^((?:\\\/[\w.-]+)+)\\\/\?\(\?=\\\/\|\$\)$/.exec(
    layer.regexp?.source ?? '',
  );
  if (!match) {
    throw new Error(
      `Cannot read the mount path of a nested router (${layer.regexp}); teach openapi.test.ts its prefix`,
    );
  }
  return match[1].replace(/\\\//g, '/');
}

/** `METHOD /path/{param}` for every route of an express router, nested routers included. */
function routerRoutes(router: { stack: any[] }, prefix = ''): string[] {
  const routes: string[] = [];
  for (const layer of router.stack) {
    if (layer.route) {
      const paths: unknown[] = Array.isArray(layer.route.path)
        ? layer.route.path
        : [layer.route.path];
      for (const p of paths) {
        if (typeof p !== 'string')
          throw new Error(`Route path ${String(p)} is not a string`);
        const openApiPath = `${prefix}${p}`.replace(/:(\w+)/g, '{$1}');
        for (const [method, on] of Object.entries(layer.route.methods)) {
          if (on && method !== '_all')
            routes.push(`${method.toUpperCase()} ${openApiPath}`);
        }
      }
    } else if (layer.handle?.stack) {
      routes.push(...routerRoutes(layer.handle, prefix + mountPrefix(layer)));
    }
  }
  return routes.sort();
}

/** What one side has that the other lacks, with the pending routes taken into account. */
function compareRoutes(
  served: string[],
  described: string[],
  pending: readonly string[],
) {
  const servedSet = new Set(served);
  const describedSet = new Set(described);
  return {
    undocumented: served.filter(r => !describedSet.has(r)),
    notServed: described.filter(r => !servedSet.has(r) && !pending.includes(r)),
    pendingButServed: pending.filter(r => servedSet.has(r)),
    pendingButNotDescribed: pending.filter(r => !describedSet.has(r)),
  };
}

/** A service no route handler is called with while the router is only being built. */
function unusedService(name: string): unknown {
  return new Proxy(
    {},
    {
      get(_target, prop) {
        if (prop === 'then') return undefined; // not a thenable
        return () => {
          throw new Error(
            `${name}.${String(prop)} called while building the router`,
          );
        };
      },
    },
  );
}

async function buildRouter(): Promise<express.Router> {
  const options = new Proxy(
    { automationSubjects: [] } as Record<string, unknown>,
    {
      get: (target, prop) =>
        prop in target ? target[prop as string] : unusedService(String(prop)),
    },
  );
  return createRouter(options as unknown as RouterOptions);
}

describe('openapi.yaml', () => {
  it('describes exactly the routes the router serves', async () => {
    const router = await buildRouter();
    const served = routerRoutes(router as unknown as { stack: any[] });
    const described = specRoutes(loadSpec());

    expect(served.length).toBeGreaterThan(0);
    expect(compareRoutes(served, described, PENDING_ROUTES)).toEqual({
      undocumented: [],
      notServed: [],
      // when this fails: the route is served now, delete it from PENDING_ROUTES above
      pendingButServed: [],
      pendingButNotDescribed: [],
    });
  });

  it('is OpenAPI 3 whose every $ref resolves and every path parameter is declared', () => {
    const spec = loadSpec();
    expect(spec.openapi).toMatch(/^3\.0\.\d+$/);

    const unresolved: string[] = [];
    const resolve = (ref: string) =>
      ref
        .replace(/^#\//, '')
        .split('/')
        .reduce<any>(
          (node, key) => (node === undefined ? undefined : node[key]),
          spec,
        );
    const walk = (node: unknown, at: string) => {
      if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${at}/${i}`));
      else if (node && typeof node === 'object') {
        for (const [key, value] of Object.entries(node)) {
          if (
            key === '$ref' &&
            (typeof value !== 'string' || resolve(value) === undefined)
          ) {
            unresolved.push(`${at}: ${String(value)}`);
          } else walk(value, `${at}/${key}`);
        }
      }
    };
    walk(spec, '#');
    expect(unresolved).toEqual([]);

    const problems: string[] = [];
    for (const [p, item] of Object.entries(spec.paths)) {
      const inPath = [...p.matchAll(/\{(\w+)\}/g)].map(m => m[1]).sort();
      for (const [method, op] of Object.entries(item)) {
        if (!HTTP_METHODS.includes(method)) continue;
        const where = `${method.toUpperCase()} ${p}`;
        const params = (op.parameters ?? []).map((x: any) =>
          x.$ref ? resolve(x.$ref) : x,
        );
        const declared = params
          .filter((x: any) => x.in === 'path')
          .map((x: any) => x.name)
          .sort();
        if (JSON.stringify(declared) !== JSON.stringify(inPath)) {
          problems.push(
            `${where}: path parameters ${inPath} but declared ${declared}`,
          );
        }
        if (!op.operationId) problems.push(`${where}: no operationId`);
        if (
          !Object.keys(op.responses ?? {}).some(code => /^2\d\d$/.test(code))
        ) {
          problems.push(`${where}: no 2xx response`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('detects a route missing from either side, and a pending route that has landed', () => {
    const router = { stack: [] as any[] };
    const route = (p: string, method: string) => ({
      route: { path: p, methods: { [method]: true } },
    });
    router.stack.push(
      route('/backups/:runId', 'get'),
      route('/extra', 'post'),
      { handle: () => {} },
    );
    router.stack.push({
      handle: { stack: [route('/:id/cancel', 'post')] },
      regexp: /^\/restores\/?(?=\/|$)/i,
    });
    const served = routerRoutes(router);
    expect(served).toEqual([
      'GET /backups/{runId}',
      'POST /extra',
      'POST /restores/{id}/cancel',
    ]);

    expect(
      compareRoutes(
        served,
        ['GET /backups/{runId}', 'GET /gone', 'POST /restores/{id}/cancel'],
        ['POST /restores/{id}/cancel', 'GET /restores'],
      ),
    ).toEqual({
      undocumented: ['POST /extra'],
      notServed: ['GET /gone'],
      pendingButServed: ['POST /restores/{id}/cancel'],
      pendingButNotDescribed: ['GET /restores'],
    });
  });
});
