import Router from 'express-promise-router';
import express from 'express';

/**
 * The HTTP layer of `/api/volume-manager`: parse, authorize, call a service, shape the response.
 * Every route except `/health` requires credentials (Backstage's default auth policy).
 */
export async function createRouter(): Promise<express.Router> {
  const router = Router();
  router.use(express.json({ limit: '256kb' }));

  router.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });

  return router;
}
