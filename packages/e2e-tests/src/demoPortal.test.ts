import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import {
  APP_URL,
  BACKEND_URL,
  launchChromium,
  startDemoPortal,
  testOutputDir,
  type DemoPortal,
} from './demoPortal';

jest.setTimeout(120_000);

describe('the demo portal started by `npm start`', () => {
  let portal: DemoPortal;
  let browser: Browser;

  beforeAll(async () => {
    portal = await startDemoPortal(540_000);
    browser = await launchChromium();
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    await portal?.stop();
  });

  it('serves the backend health check without credentials', async () => {
    const res = await fetch(`${BACKEND_URL}/api/volume-manager/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('refuses the other routes without credentials, in the standard error body', async () => {
    const res = await fetch(`${BACKEND_URL}/api/volume-manager/volumes`);
    expect(res.status).toBe(401);
    const body = await res.json();
    expect(body.error.name).toBe('AuthenticationError');
    expect(body.response).toEqual({ statusCode: 401 });
  });

  it('opens the catalog and a demo entity with its Volumes tab in Chromium', async () => {
    const page = await browser.newPage();
    await page.goto(APP_URL);
    // Guest sign-in, as a person would do it.
    await page.getByRole('button', { name: /enter/i }).click();
    await page.getByRole('link', { name: 'payments-api' }).waitFor({ timeout: 60_000 });
    await page.screenshot({ path: join(testOutputDir, 'catalog.png'), fullPage: true });

    await page.getByRole('link', { name: 'payments-api' }).click();
    await page.getByRole('tab', { name: 'Volumes' }).waitFor({ timeout: 60_000 });
    expect(page.url()).toContain('/catalog/default/component/payments-api');
    await page.screenshot({ path: join(testOutputDir, 'entity.png'), fullPage: true });

    await page.getByRole('tab', { name: 'Volumes' }).click();
    await page.waitForURL(/\/volumes$/);
    await page.screenshot({ path: join(testOutputDir, 'entity-volumes.png'), fullPage: true });
    await page.close();
  });
});
