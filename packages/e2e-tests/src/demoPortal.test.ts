import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { compareTrees } from '@nkvm/kube-sim/src/files';
import {
  APP_URL,
  BACKEND_URL,
  launchChromium,
  portInUse,
  processAlive,
  repoRoot,
  startDemoPortal,
  testOutputDir,
  type DemoPortal,
} from './demoPortal';

jest.setTimeout(180_000);

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(testOutputDir, `${name}.png`), fullPage: true });

/** The `datetime` of the "Last successful backup" cell of a PVC row, or null for "Never". */
async function lastBackupOf(page: Page, pvc: string): Promise<string | null> {
  const cell = page.locator(`tr[data-volume="kube-sim/payments/${pvc}"] [data-testid="last-backup"]`);
  const time = cell.locator('time');
  return (await time.count()) ? time.getAttribute('datetime') : null;
}

/** The directory of the PV bound to a PVC of the demo's payments namespace, read from the inventory API. */
async function pvDirOf(pvc: string, timeoutMs = 30_000): Promise<string> {
  const headers = { Authorization: `Bearer ${await guestToken()}` };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // The inventory is cached for a few seconds: a PVC created just now can take a moment.
    const res = await fetch(`${BACKEND_URL}/api/volume-manager/volumes?cluster=kube-sim&namespace=payments`, { headers });
    expect(res.status).toBe(200);
    const { items } = (await res.json()) as { items: Array<{ name: string; volumeName: string | null }> };
    const volumeName = items.find(v => v.name === pvc)?.volumeName;
    if (volumeName) return join(repoRoot, '.kube-sim', 'data', 'pvs', volumeName);
    if (Date.now() > deadline) throw new Error(`PVC payments/${pvc} has no bound PV in the inventory`);
    await new Promise(r => setTimeout(r, 1000));
  }
}

/** A guest token straight from the auth backend, for API-level checks. */
async function guestToken(): Promise<string> {
  const res = await fetch(`${BACKEND_URL}/api/auth/guest/refresh`, {
    headers: { 'X-Requested-With': 'XMLHttpRequest' },
  });
  if (!res.ok) throw new Error(`guest refresh: ${res.status} ${await res.text()}`);
  const body = await res.json();
  return body.backstageIdentity.token;
}

describe('the demo portal started by `npm start`', () => {
  let portal: DemoPortal;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    portal = await startDemoPortal(540_000);
    browser = await launchChromium();
    context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1600, height: 1000 } });
    page = await context.newPage();
  }, 600_000);

  afterAll(async () => {
    await context?.close();
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

  it('signs in as the guest and opens a demo entity with its Volumes tab', async () => {
    await page.goto(APP_URL);
    // Guest sign-in, as a person would do it.
    await page.getByRole('button', { name: /enter/i }).click();
    await page.getByRole('link', { name: 'payments-db' }).waitFor({ timeout: 60_000 });
    await shot(page, 'catalog');

    await page.getByRole('link', { name: 'payments-db' }).click();
    await page.getByRole('tab', { name: 'Volumes' }).click();
    await page.waitForURL(/\/catalog\/default\/component\/payments-db\/volumes$/);
    // Its PVCs: the StatefulSet's claim and the unmounted scratch claim.
    await page.getByRole('heading', { name: 'Persistent volume claims (2)' }).waitFor({ timeout: 60_000 });
    const db = page.locator('tr[data-volume="kube-sim/payments/data-payments-db-0"]');
    const scratch = page.locator('tr[data-volume="kube-sim/payments/payments-db-scratch"]');
    await expect(db.textContent()).resolves.toMatch(/StatefulSet\/payments-db/);
    await expect(db.textContent()).resolves.toMatch(/8Gi.*standard.*ReadWriteOnce/);
    await expect(scratch.textContent()).resolves.toMatch(/unmounted/);
    await shot(page, 'entity-volumes');
  });

  it('backs up two PVCs, shows progress to the end and the new last successful backup', async () => {
    const started = Date.now() - 1000;
    const before = {
      db: await lastBackupOf(page, 'data-payments-db-0'),
      scratch: await lastBackupOf(page, 'payments-db-scratch'),
    };

    const backUp = page.getByRole('button', { name: 'Back up selected' });
    expect(await backUp.isDisabled()).toBe(true);
    await page.getByRole('checkbox', { name: 'Select payments/data-payments-db-0' }).check();
    // The second one and the button with the keyboard only.
    await page.getByRole('checkbox', { name: 'Select payments/payments-db-scratch' }).focus();
    await page.keyboard.press('Space');
    await page.getByText('2 selected').waitFor();
    await backUp.focus();
    await page.keyboard.press('Enter');

    const dialog = page.getByRole('dialog');
    await dialog.getByText('Back up 2 volumes?').waitFor();
    await shot(page, 'backup-confirm');
    await dialog.getByRole('button', { name: 'Back up 2' }).click();
    await dialog.waitFor({ state: 'detached' });

    // A progress row per PVC appears at once (queued or running) and ends in success.
    const progress = (pvc: string) => page.getByTestId(`backup-progress-payments-${pvc}`);
    await progress('data-payments-db-0').waitFor({ timeout: 30_000 });
    await progress('payments-db-scratch').waitFor();
    await shot(page, 'backup-progress');
    for (const pvc of ['data-payments-db-0', 'payments-db-scratch']) {
      await page
        .locator(`[data-testid="backup-progress-payments-${pvc}"][data-status="succeeded"]`)
        .waitFor({ timeout: 90_000 });
      await expect(progress(pvc).textContent()).resolves.toMatch(/Backed up .* in /);
    }

    // The inventory is read again: the last successful backup is now this run's.
    for (const [pvc, previous] of [
      ['data-payments-db-0', before.db],
      ['payments-db-scratch', before.scratch],
    ] as const) {
      await page.waitForFunction(
        ([selector, prev]) => {
          const t = document.querySelector(`${selector} [data-testid="last-backup"] time`);
          const value = t?.getAttribute('datetime');
          return Boolean(value && value !== prev);
        },
        [`tr[data-volume="kube-sim/payments/${pvc}"]`, previous] as const,
        { timeout: 30_000 },
      );
      const now = await lastBackupOf(page, pvc);
      expect(Date.parse(now!)).toBeGreaterThanOrEqual(started);
    }
    await shot(page, 'backup-done');
  });

  it('downloads an archive through the UI and its sha256 matches the recorded one', async () => {
    await page.getByRole('button', { name: 'Show the backup history of data-payments-db-0' }).click();
    const history = page.getByRole('table', { name: 'Backup history of data-payments-db-0' });
    await history.waitFor({ timeout: 30_000 });
    await page.getByTestId('backup-chart').waitFor();
    const newest = history.locator('tbody tr').first();
    const recorded = await newest.locator('[data-sha256]').getAttribute('data-sha256');
    expect(recorded).toMatch(/^[0-9a-f]{64}$/);
    await shot(page, 'history');

    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 60_000 }),
      newest.getByRole('button', { name: /Download the archive/ }).click(),
    ]);
    const fileName = download.suggestedFilename();
    expect(fileName).toMatch(/^data-payments-db-0-\d{8}T\d{6}Z\.tar\.gz$/);
    const saved = join(testOutputDir, fileName);
    await download.saveAs(saved);
    const bytes = readFileSync(saved);
    expect(bytes.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b])); // gzip
    const actual = createHash('sha256').update(bytes).digest('hex');
    expect(actual).toBe(recorded);

    // The sidecar the backend wrote next to the archive (sha256sum format) agrees.
    const sidecar = join(repoRoot, 'backups', 'kube-sim', 'payments', 'data-payments-db-0', `${fileName}.sha256`);
    expect(existsSync(sidecar)).toBe(true);
    expect(readFileSync(sidecar, 'utf8')).toContain(actual);
    // The UI checked it too before saving.
    await page.getByText(/its sha256 matches the recorded checksum/).waitFor({ timeout: 10_000 });
    await shot(page, 'download');
  });

  it('restores the newest backup into a new PVC from the Volumes tab; the restored PV equals the source on disk', async () => {
    // The history of data-payments-db-0 is open (previous test); its newest row is this run's backup.
    const history = page.getByRole('table', { name: 'Backup history of data-payments-db-0' });
    const newest = history.locator('tbody tr').first();
    await newest.getByRole('button', { name: /^Restore the backup of data-payments-db-0/ }).click();

    const dialog = page.getByRole('dialog');
    await dialog.getByText(/^Restore payments\/data-payments-db-0 from /).waitFor();
    // A name payments-db's StatefulSet would claim (`data-payments-db-<n>`): the demo policy lets
    // owners restore into new PVCs of their own entities only. Unique per run; kube-sim's state stays.
    const target = `data-payments-db-${Date.now()}`;
    await dialog.getByRole('textbox', { name: 'New PVC name' }).fill(target);
    expect(await dialog.getByRole('textbox', { name: 'Namespace' }).inputValue()).toBe('payments');
    expect(await dialog.getByRole('radio', { name: /Preserve the numeric owners/ }).isChecked()).toBe(true);
    // The guest owns payments-db but is no admin: the demo policy keeps in-place restores from it.
    expect(await dialog.getByRole('radio', { name: /^This PVC/ }).count()).toBe(0);
    await shot(page, 'restore-form');
    await dialog.getByRole('button', { name: 'Restore', exact: true }).click();

    // Live progress, then the end: success, or the reason shown to the user (fail with it).
    await dialog
      .locator('[data-testid="restore-progress"], [data-testid="restore-start-error"]')
      .first()
      .waitFor({ timeout: 30_000 });
    const notStarted = dialog.getByTestId('restore-start-error');
    if (await notStarted.count()) {
      throw new Error(`The restore was not started: ${await notStarted.textContent()}`);
    }
    await shot(page, 'restore-progress');
    await dialog
      .locator('[data-testid="restore-progress"][data-phase="succeeded"], [data-testid="restore-error"]')
      .first()
      .waitFor({ timeout: 120_000 });
    const refused = dialog.getByTestId('restore-error');
    if (await refused.count()) {
      throw new Error(`The restore did not succeed: ${await refused.textContent()}`);
    }
    await expect(dialog.getByTestId('restored-pvc').textContent()).resolves.toBe(`payments/${target} on kube-sim`);
    expect(await dialog.getByTestId('restore-done').getByRole('link', { name: /payments-db/ }).getAttribute('href')).toBe(
      '/catalog/default/component/payments-db',
    );
    expect(await dialog.locator('[data-check]').count()).toBeGreaterThan(0);
    expect(await dialog.locator('[data-check][data-ok="false"]').count()).toBe(0);
    await shot(page, 'restore-done');
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'detached' });
    // The tab lists the restores into the entity's PVCs, this one among them.
    const restores = page.getByRole('table', { name: 'Restores' });
    await restores.waitFor({ timeout: 30_000 });
    await restores.locator('tr[data-phase="succeeded"]', { hasText: target }).waitFor({ timeout: 30_000 });
    await restores.screenshot({ path: join(testOutputDir, 'restore-listed.png') });

    // Not the API's word: the restored PV's directory equals the source PV's, byte for byte,
    // with modes, numeric owners, symlinks, hard links and empty directories.
    const source = await pvDirOf('data-payments-db-0');
    const restored = await pvDirOf(target);
    expect(restored).not.toBe(source);
    expect(await compareTrees(source, restored)).toEqual([]);
  });

  it('as a non-owner (guest on a team-platform entity), the backup action is unavailable', async () => {
    await page.goto(`${APP_URL}/catalog/default/component/platform-logs/volumes`);
    await page.getByRole('heading', { name: /Persistent volume claims \(\d+\)/ }).waitFor({ timeout: 60_000 });
    await page.locator('tr[data-volume="kube-sim/platform/platform-logs-archive"]').waitFor();
    await page.getByTestId('backup-not-permitted').waitFor();
    expect(await page.getByRole('button', { name: 'Back up selected' }).count()).toBe(0);
    expect(await page.getByRole('checkbox').count()).toBe(0);
    await shot(page, 'non-owner');

    // The backend is authoritative: a hand-made request is refused too.
    const res = await fetch(`${BACKEND_URL}/api/volume-manager/backups`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await guestToken()}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        cluster: 'kube-sim',
        volumes: [{ namespace: 'platform', name: 'platform-logs-archive' }],
        destination: 'local',
      }),
    });
    expect(res.status).toBe(403);
    expect((await res.json()).error.name).toBe('NotAllowedError');
  });

  it('shows the admin page with cluster health and runs, without the paste flow for the guest', async () => {
    await page.goto(`${APP_URL}/volume-manager`);
    const clusters = page.getByRole('table', { name: 'Clusters' });
    await clusters.waitFor({ timeout: 60_000 });
    await clusters.getByText(/Reachable; \d+ PVCs/).waitFor({ timeout: 60_000 });
    await page.getByRole('heading', { name: /Inventory \(\d+\)/ }).waitFor();
    await page.getByRole('table', { name: 'Backup runs' }).waitFor({ timeout: 30_000 });
    expect(await page.getByRole('form', { name: 'Paste a kubeconfig' }).count()).toBe(0);
    await shot(page, 'admin');
    // Beside the runs, the restores, with the one restored from the Volumes tab.
    const restores = page.getByRole('table', { name: 'Restores' });
    await restores.locator('tr[data-phase="succeeded"]', { hasText: /data-payments-db-\d+ \(new PVC\)/ }).first().waitFor({ timeout: 30_000 });
    await restores.screenshot({ path: join(testOutputDir, 'admin-restores.png') });
  });

  // Last: it ends the portal. A backend whose shutdown hung once kept port 7007 (and a core) for
  // ten minutes after its process group got SIGTERM.
  it('stops every process it started within seconds when SIGTERMed during a running backup', async () => {
    const headers = { Authorization: `Bearer ${await guestToken()}`, 'Content-Type': 'application/json' };
    const inventory = await (await fetch(`${BACKEND_URL}/api/volume-manager/volumes?cluster=kube-sim&namespace=payments`, { headers })).json();
    const volume = inventory.items.find((v: { name: string }) => v.name === 'payments-api-uploads');
    const bigFile = join(repoRoot, '.kube-sim', 'data', 'pvs', volume.volumeName, 'sigterm-test.bin');
    // Incompressible, so tar -czf streams for several seconds.
    writeFileSync(bigFile, Buffer.alloc(0));
    for (let i = 0; i < 24; i++) writeFileSync(bigFile, randomBytes(16 << 20), { flag: 'a' });
    try {
      const created = await fetch(`${BACKEND_URL}/api/volume-manager/backups`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ cluster: 'kube-sim', volumes: [{ namespace: 'payments', name: 'payments-api-uploads' }], destination: 'local' }),
      });
      expect(created.status).toBe(202);
      const runId = (await created.json()).id;
      for (let streaming = false; !streaming; ) {
        const run = await (await fetch(`${BACKEND_URL}/api/volume-manager/backups/${runId}`, { headers })).json();
        expect(run.items[0].status).not.toMatch(/succeeded|failed/);
        streaming = run.items[0].status === 'running' && (run.items[0].progress?.bytes ?? 0) > 0;
        await new Promise(r => setTimeout(r, 100));
      }
      const tree = portal.processTree();
      expect(tree.length).toBeGreaterThan(5); // npm, start.mjs, kube-sim, backend, app, bwrap, tar …
      const tookMs = await portal.terminate(20_000);
      const deadline = Date.now() + 5_000;
      while (tree.some(processAlive) && Date.now() < deadline) await new Promise(r => setTimeout(r, 100));
      expect(tree.filter(processAlive)).toEqual([]);
      for (const port of [3000, 7007, 6443]) {
        expect({ port, open: await portInUse(port) }).toEqual({ port, open: false });
      }
      expect(tookMs).toBeLessThan(15_000);
    } finally {
      rmSync(bigFile, { force: true });
    }
  });
});
