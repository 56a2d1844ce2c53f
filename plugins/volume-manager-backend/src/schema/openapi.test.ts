import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import type express from 'express';
import request from 'supertest';
import { parse as parseYaml } from 'yaml';
import { volumeManagerPlugin } from '../plugin';
import { createRouter, type RouterOptions } from '../router';

/**
 * Routes the spec describes that another branch adds to the router (the restore API). Each
 * entry must NOT be served yet: once the router serves one, this test fails until the entry is
 * deleted here. The integrator empties this list when the restore routes have merged.
 */
const PENDING_ROUTES: readonly string[] = [];

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

/**
 * Checks a JSON value against the subset of OpenAPI 3.0 schemas the spec uses. Objects are
 * closed: a property the spec does not list is an error, so a response field added to the code
 * but not to the spec fails here.
 */
function schemaErrors(
  spec: Spec,
  schema: any,
  value: unknown,
  at = '$',
): string[] {
  if (schema.$ref) {
    const target = schema.$ref
      .replace(/^#\//, '')
      .split('/')
      .reduce((node: any, key: string) => node?.[key], spec);
    return schemaErrors(spec, target, value, at);
  }
  if (value === null)
    return schema.nullable ? [] : [`${at}: null is not allowed`];
  if (schema.allOf)
    return schema.allOf.flatMap((s: any) => schemaErrors(spec, s, value, at));
  if (schema.oneOf) {
    const matching = schema.oneOf.filter(
      (s: any) => schemaErrors(spec, s, value, at).length === 0,
    );
    return matching.length === 1
      ? []
      : [`${at}: matches ${matching.length} of oneOf`];
  }
  if (schema.enum && !schema.enum.includes(value))
    return [`${at}: ${JSON.stringify(value)} not in enum`];
  switch (schema.type) {
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value))
        return [`${at}: not an object`];
      const obj = value as Record<string, unknown>;
      const props = schema.properties ?? {};
      return [
        ...(schema.required ?? [])
          .filter((k: string) => !(k in obj))
          .map((k: string) => `${at}.${k}: required`),
        ...Object.keys(obj)
          .filter(k => !(k in props))
          .map(k => `${at}.${k}: not in the spec`),
        ...Object.entries(obj)
          .filter(([k]) => k in props)
          .flatMap(([k, v]) => schemaErrors(spec, props[k], v, `${at}.${k}`)),
      ];
    }
    case 'array':
      return Array.isArray(value)
        ? value.flatMap((v, i) =>
            schemaErrors(spec, schema.items, v, `${at}[${i}]`),
          )
        : [`${at}: not an array`];
    case 'integer':
      return Number.isInteger(value) ? [] : [`${at}: not an integer`];
    case 'number':
    case 'string':
    case 'boolean':
      return typeof value === schema.type
        ? []
        : [`${at}: not a ${schema.type}`];
    default:
      return [];
  }
}

describe('responses of the running plugin', () => {
  const spec = loadSpec();
  const user = mockCredentials.user.header('user:default/alice');
  let server: any;

  beforeAll(async () => {
    ({ server } = await startTestBackend({
      features: [
        volumeManagerPlugin,
        mockServices.rootConfig.factory({
          data: { volumeManager: { defaultAuthMode: 'paste' } },
        }),
        mockServices.permissions.factory({ result: AuthorizeResult.ALLOW }),
        catalogServiceMock.factory({ entities: [] }),
      ],
    }));
  });

  /** The response's status is documented for the operation, and its body matches the schema. */
  function expectDescribed(
    method: string,
    specPath: string,
    res: request.Response,
  ) {
    const op = spec.paths[specPath]?.[method];
    expect({
      [`${method.toUpperCase()} ${specPath}`]: Object.keys(op?.responses ?? {}),
    }).toEqual({
      [`${method.toUpperCase()} ${specPath}`]: expect.arrayContaining([
        String(res.status),
      ]),
    });
    let response = op.responses[String(res.status)];
    if (response.$ref)
      response = spec.components!.responses[response.$ref.split('/').pop()!];
    const schema = (response as any).content['application/json'].schema;
    expect(schemaErrors(spec, schema, res.body)).toEqual([]);
  }

  it.each([
    ['get', '/health', '/health', 200],
    ['get', '/clusters', '/clusters', 200],
    ['get', '/destinations', '/destinations', 200],
    ['get', '/volumes', '/volumes', 200],
    ['get', '/backups', '/backups', 200],
    ['get', '/volumes', '/volumes?bogus=1', 400],
    ['get', '/backups/{runId}', '/backups/not-a-uuid', 400],
    ['get', '/backups/{runId}', `/backups/${randomUUID()}`, 404],
    ['post', '/backups', '/backups', 400],
    ['post', '/clusters/session', '/clusters/session', 400],
  ])(
    '%s %s (%s) answers as described',
    async (method, specPath, url, status) => {
      const res = await (request(server) as any)
        [method](`/api/volume-manager${url}`)
        .set('Authorization', user)
        .send(method === 'post' ? { bogus: true } : undefined);
      expect(res.status).toBe(status);
      expectDescribed(method, specPath, res);
    },
  );

  it('answers 401 as described when the token is invalid', async () => {
    const res = await request(server)
      .get('/api/volume-manager/clusters')
      .set('Authorization', mockCredentials.user.invalidHeader());
    expect(res.status).toBe(401);
    expectDescribed('get', '/clusters', res);
  });

  it('the schema check rejects what the spec does not describe', () => {
    const clusters = { $ref: '#/components/schemas/ClustersResponse' };
    expect(
      schemaErrors(spec, clusters, { clusters: [], authModes: ['paste'] }),
    ).toEqual([]);
    expect(
      schemaErrors(spec, clusters, {
        clusters: [{ name: 'c', source: 'nowhere', token: 'x' }],
        authModes: [null],
      }),
    ).toEqual([
      '$.clusters[0].token: not in the spec',
      '$.clusters[0].source: "nowhere" not in enum',
      '$.authModes[0]: null is not allowed',
    ]);
  });
});
