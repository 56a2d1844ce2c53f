import type {
  AuditorService,
  HttpAuthService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { InputError, NotAllowedError } from '@backstage/errors';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  clusterSessionCreatePermission,
  type ClustersResponse,
} from '@nkvm/backstage-plugin-volume-manager-common';
import express from 'express';
import Router from 'express-promise-router';
import { z } from 'zod';
import type { ClusterRegistry } from './services/ClusterRegistry/ClusterRegistry';
import { MAX_PASTED_KUBECONFIG_BYTES } from './services/ClusterRegistry/validatePastedKubeconfig';
import type { VolumeQueryService } from './services/VolumeInventory/VolumeQueryService';

export interface RouterOptions {
  httpAuth: HttpAuthService;
  permissions: PermissionsService;
  auditor: AuditorService;
  clusters: ClusterRegistry;
  volumes: VolumeQueryService;
}

const volumesQuery = z
  .object({
    cluster: z.string().min(1).max(253).optional(),
    namespace: z.string().min(1).max(63).optional(),
    entityRef: z.string().min(1).max(512).optional(),
  })
  .strict();

const sessionBody = z
  .object({
    name: z.string().min(1).max(63),
    kubeconfig: z.string().min(1).max(MAX_PASTED_KUBECONFIG_BYTES * 2),
    context: z.string().min(1).max(253).optional(),
  })
  .strict();

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const details = result.error.issues
      .map(i => `${i.path.join('.') || what}: ${i.message}`)
      .join('; ');
    throw new InputError(`Invalid ${what}: ${details}`);
  }
  return result.data;
}

/**
 * The HTTP layer of `/api/volume-manager`: parse, authorize, call a service, shape the response.
 * Every route except `/health` requires credentials (Backstage's default auth policy).
 */
export async function createRouter(options: RouterOptions): Promise<express.Router> {
  const { httpAuth, permissions, auditor, clusters, volumes } = options;
  const router = Router();
  router.use(express.json({ limit: '256kb' }));

  router.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/clusters', async (req, res) => {
    const credentials = await httpAuth.credentials(req, { allow: ['user'] });
    const body: ClustersResponse = {
      clusters: clusters.listClusters(credentials.principal.userEntityRef),
      authModes: clusters.authModes(),
    };
    res.json(body);
  });

  router.get('/volumes', async (req, res) => {
    const query = parse(volumesQuery, req.query, 'query');
    const credentials = await httpAuth.credentials(req, { allow: ['user'] });
    res.json(await volumes.listVolumes(query, credentials));
  });

  router.post('/clusters/session', async (req, res) => {
    const credentials = await httpAuth.credentials(req, { allow: ['user'] });
    const auditorEvent = await auditor.createEvent({
      eventId: 'cluster-session-create',
      request: req,
      severityLevel: 'high',
      meta: { name: typeof req.body?.name === 'string' ? req.body.name : undefined },
    });
    try {
      const [decision] = await permissions.authorize(
        [{ permission: clusterSessionCreatePermission }],
        { credentials },
      );
      if (decision.result !== AuthorizeResult.ALLOW) {
        throw new NotAllowedError('Only administrators may paste a kubeconfig');
      }
      const body = parse(sessionBody, req.body, 'body');
      const summary = clusters.createSession(credentials.principal.userEntityRef, body);
      await auditorEvent.success({ meta: { name: summary.name, expiresAt: summary.expiresAt } });
      res.status(201).json(summary);
    } catch (error) {
      await auditorEvent.fail({ error: error as Error });
      throw error;
    }
  });

  return router;
}
