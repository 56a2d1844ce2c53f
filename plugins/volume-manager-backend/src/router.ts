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
  type CreateRestoreRequest,
} from '@nkvm/backstage-plugin-volume-manager-common';
import express from 'express';
import Router from 'express-promise-router';
import { z } from 'zod';
import type { BackupService } from './services/BackupService/BackupService';
import type { ClusterRegistry } from './services/ClusterRegistry/ClusterRegistry';
import type { RestoreService } from './services/RestoreService/RestoreService';
import { MAX_PASTED_KUBECONFIG_BYTES } from './services/ClusterRegistry/validatePastedKubeconfig';
import type { VolumeQueryService } from './services/VolumeInventory/VolumeQueryService';

export interface RouterOptions {
  httpAuth: HttpAuthService;
  permissions: PermissionsService;
  auditor: AuditorService;
  clusters: ClusterRegistry;
  volumes: VolumeQueryService;
  backups: BackupService;
  restores: RestoreService;
  /** Service principal subjects allowed on the automation routes (`volumeManager.automation`). */
  automationSubjects?: string[];
}

/** Namespace: DNS-1123 label. PVC: DNS-1123 subdomain. */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'interrupted', 'cancelled'] as const;

const volumeRef = z
  .object({
    namespace: z
      .string()
      .max(63)
      .regex(DNS1123_LABEL, 'must be a DNS-1123 label (lowercase letters, digits and -)'),
    name: z
      .string()
      .max(253)
      .regex(DNS1123_SUBDOMAIN, 'must be a DNS-1123 subdomain (lowercase letters, digits, - and .)'),
  })
  .strict();

const adHocDestination = z
  .object({
    type: z.enum(['ftp', 'ftps', 'scp', 'rsync']),
    host: z.string().min(1).max(253),
    port: z.number().int().min(1).max(65535).optional(),
    username: z.string().min(1).max(256),
    password: z.string().max(1024).optional(),
    privateKey: z.string().max(16384).optional(),
    remoteDir: z.string().min(1).max(1024),
    hostKeySha256: z.string().max(128).optional(),
    tls: z
      .object({
        ca: z.string().max(16384).optional(),
        rejectUnauthorized: z.boolean().optional(),
        implicit: z.boolean().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const createBackupBody = z
  .object({
    cluster: z.string().min(1).max(253),
    volumes: z.array(volumeRef).min(1, 'name at least one PVC'),
    destination: z.union([z.string().min(1).max(253), adHocDestination]),
  })
  .strict();

const historyQuery = z
  .object({
    cluster: z.string().min(1).max(253).optional(),
    namespace: z.string().regex(DNS1123_LABEL, 'must be a DNS-1123 label').optional(),
    pvc: z.string().regex(DNS1123_SUBDOMAIN, 'must be a DNS-1123 subdomain').optional(),
    entityRef: z.string().min(1).max(512).optional(),
    status: z.enum(STATUSES).optional(),
    limit: z.coerce.number().int().min(1).max(500).optional(),
    cursor: z.string().max(512).optional(),
  })
  .strict();

const idParam = z.string().uuid('must be a run or item id');

const restoreIdParam = z.string().uuid('must be a restore id');
const clusterName = z.string().min(1).max(253);
const restoreTarget = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('newPvc'),
      cluster: clusterName,
      namespace: volumeRef.shape.namespace,
      name: volumeRef.shape.name.optional(),
      storageClassName: z.string().min(1).max(253).regex(DNS1123_SUBDOMAIN, 'must be a DNS-1123 subdomain').optional(),
      size: z
        .string()
        .max(32)
        .regex(/^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/, 'must be a Kubernetes quantity such as 2Gi')
        .optional(),
      accessModes: z
        .array(z.enum(['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod']))
        .min(1)
        .max(4)
        .optional(),
    })
    .strict(),
  z
    .object({
      type: z.literal('existingPvc'),
      cluster: clusterName,
      namespace: volumeRef.shape.namespace,
      name: volumeRef.shape.name,
      mode: z.enum(['merge', 'replace']),
      confirm: z.string().max(253),
      safetyBackup: z.boolean().optional(),
      allowDirectExtraction: z.boolean().optional(),
    })
    .strict(),
]);
const restoreCommon = {
  target: restoreTarget,
  ownership: z.enum(['preserve', 'workload']).optional(),
};
const restoreByItem = z.object({ itemId: z.string().uuid('must be a backup item id'), ...restoreCommon }).strict();
const restoreBySource = z
  .object({
    source: z
      .object({
        cluster: clusterName,
        namespace: volumeRef.shape.namespace,
        pvc: volumeRef.shape.name,
        asOf: z.string().datetime({ offset: true, message: 'must be an RFC 3339 time' }).optional(),
      })
      .strict(),
    ...restoreCommon,
  })
  .strict();
/** One schema or the other by the key given, so errors name the field (a union would not). */
function parseCreateRestore(body: unknown): CreateRestoreRequest {
  const bySource = typeof body === 'object' && body !== null && 'source' in body;
  return parse<CreateRestoreRequest>(bySource ? restoreBySource : restoreByItem, body, 'body');
}

const restoreListQuery = z
  .object({
    cluster: clusterName.optional(),
    namespace: z.string().regex(DNS1123_LABEL, 'must be a DNS-1123 label').optional(),
    pvc: z.string().regex(DNS1123_SUBDOMAIN, 'must be a DNS-1123 subdomain').optional(),
    entityRef: z.string().min(1).max(512).optional(),
    limit: z.coerce.number().int().min(1).max(500).optional(),
    cursor: z.string().max(512).optional(),
  })
  .strict();

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
 * Every route except `/health` requires credentials (Backstage's default auth policy). Most
 * routes take users only; the automation routes (`GET /volumes`, `POST /backups`,
 * `GET /backups/:runId`) also take the service principals listed in
 * `volumeManager.automation.allowedServiceSubjects`, whose requests then go through the same
 * permission checks (Backstage allows a service principal what its token's access restrictions
 * allow).
 */
export async function createRouter(options: RouterOptions): Promise<express.Router> {
  const { httpAuth, permissions, auditor, clusters, volumes, backups, restores } = options;
  const automationSubjects = new Set(options.automationSubjects ?? []);
  const router = Router();

  /** Users, or a service principal allowed to automate. */
  async function automationCredentials(req: express.Request) {
    const credentials = await httpAuth.credentials(req, { allow: ['user', 'service'] });
    if (credentials.principal.type === 'service' && !automationSubjects.has(credentials.principal.subject)) {
      throw new NotAllowedError(
        `Service principal '${credentials.principal.subject}' may not call the volume-manager API; ` +
          'list it in volumeManager.automation.allowedServiceSubjects',
      );
    }
    return credentials;
  }
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
    const credentials = await automationCredentials(req);
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

  router.get('/destinations', async (req, res) => {
    await httpAuth.credentials(req, { allow: ['user'] });
    res.json(backups.listDestinations());
  });

  router.post('/backups', async (req, res) => {
    const credentials = await automationCredentials(req);
    const body = parse(createBackupBody, req.body, 'body');
    const auditorEvent = await auditor.createEvent({
      eventId: 'backup-run-create',
      request: req,
      severityLevel: 'medium',
      meta: {
        cluster: body.cluster,
        volumes: body.volumes.map(v => `${v.namespace}/${v.name}`),
        destination: typeof body.destination === 'string' ? body.destination : `adhoc:${body.destination.type}`,
      },
    });
    try {
      const run = await backups.createRun(body, credentials);
      await auditorEvent.success({ meta: { runId: run.id } });
      res.status(202).json(run);
    } catch (error) {
      await auditorEvent.fail({ error: error as Error });
      throw error;
    }
  });

  router.get('/backups', async (req, res) => {
    const query = parse(historyQuery, req.query, 'query');
    const credentials = await httpAuth.credentials(req, { allow: ['user'] });
    res.json(await backups.listHistory(query, credentials));
  });

  router.get('/backups/:runId', async (req, res) => {
    const runId = parse(idParam, req.params.runId, 'runId');
    const credentials = await automationCredentials(req);
    res.json(await backups.getRun(runId, credentials));
  });

  router.post('/backups/:runId/cancel', async (req, res) => {
    const runId = parse(idParam, req.params.runId, 'runId');
    const credentials = await httpAuth.credentials(req, { allow: ['user'] });
    const auditorEvent = await auditor.createEvent({
      eventId: 'backup-run-cancel',
      request: req,
      severityLevel: 'medium',
      meta: { runId },
    });
    try {
      const run = await backups.cancelRun(runId, credentials);
      await auditorEvent.success();
      res.json(run);
    } catch (error) {
      await auditorEvent.fail({ error: error as Error });
      throw error;
    }
  });

  router.get('/backups/:runId/items/:itemId/archive', async (req, res) => {
    const runId = parse(idParam, req.params.runId, 'runId');
    const itemId = parse(idParam, req.params.itemId, 'itemId');
    const credentials = await httpAuth.credentials(req, { allow: ['user'] });
    const file = await backups.archiveFile(runId, itemId, credentials);
    await auditor
      .createEvent({
        eventId: 'backup-archive-download',
        request: req,
        severityLevel: 'low',
        meta: { runId, itemId, fileName: file.fileName },
      })
      .then(e => e.success());
    if (file.sha256) res.setHeader('X-Checksum-Sha256', file.sha256);
    res.attachment(file.fileName);
    await new Promise<void>((resolve, reject) => {
      res.sendFile(file.path, { acceptRanges: true, dotfiles: 'deny' }, error =>
        error && !res.headersSent ? reject(error) : resolve(),
      );
    });
  });

  router.post('/restores', async (req, res) => {
    const credentials = await httpAuth.credentials(req, { allow: ['user'] });
    const body = parseCreateRestore(req.body);
    const { target } = body;
    const auditorEvent = await auditor.createEvent({
      eventId: 'restore-create',
      request: req,
      // Overwriting data that exists is the riskier act.
      severityLevel: target.type === 'existingPvc' ? 'high' : 'medium',
      meta: {
        source: 'itemId' in body ? { itemId: body.itemId } : body.source,
        target: {
          type: target.type,
          cluster: target.cluster,
          namespace: target.namespace,
          name: target.name,
          ...(target.type === 'existingPvc' && { mode: target.mode }),
        },
        ownership: body.ownership ?? 'preserve',
      },
    });
    try {
      const restore = await restores.createRestore(body, credentials);
      await auditorEvent.success({
        meta: { restoreId: restore.id, itemId: restore.itemId, targetPvc: restore.targetPvc },
      });
      res.status(202).json(restore);
    } catch (error) {
      await auditorEvent.fail({ error: error as Error });
      throw error;
    }
  });

  router.get('/restores', async (req, res) => {
    const query = parse(restoreListQuery, req.query, 'query');
    const credentials = await httpAuth.credentials(req, { allow: ['user'] });
    res.json(await restores.listRestores(query, credentials));
  });

  router.get('/restores/:id', async (req, res) => {
    const id = parse(restoreIdParam, req.params.id, 'id');
    const credentials = await httpAuth.credentials(req, { allow: ['user'] });
    res.json(await restores.getRestore(id, credentials));
  });

  router.post('/restores/:id/cancel', async (req, res) => {
    const id = parse(restoreIdParam, req.params.id, 'id');
    const credentials = await httpAuth.credentials(req, { allow: ['user'] });
    const auditorEvent = await auditor.createEvent({
      eventId: 'restore-cancel',
      request: req,
      severityLevel: 'medium',
      meta: { restoreId: id },
    });
    try {
      const restore = await restores.cancelRestore(id, credentials);
      await auditorEvent.success({ meta: { phase: restore.phase } });
      res.json(restore);
    } catch (error) {
      await auditorEvent.fail({ error: error as Error });
      throw error;
    }
  });

  return router;
}
