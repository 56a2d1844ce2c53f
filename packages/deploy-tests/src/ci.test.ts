/* .github/workflows/ci.yml runs the same gate as .ci/run: it prepares the machine and calls it. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from './__testUtils__/repo';

describe('.github/workflows/ci.yml', () => {
  const workflow = parse(readFileSync(path.join(REPO_ROOT, '.github/workflows/ci.yml'), 'utf8'));
  const steps: Array<{ run?: string; uses?: string }> = workflow.jobs.test.steps;

  it('runs .ci/run as its test step, after the checkout', () => {
    expect(steps[0].uses).toMatch(/^actions\/checkout@/);
    expect(steps[steps.length - 1].run?.trim()).toBe('bash .ci/run');
  });

  it('runs on Debian 12 with Node 20, as root, like the project machines', () => {
    expect(workflow.jobs.test.container.image).toBe('node:20-bookworm');
    expect(workflow.jobs.test['timeout-minutes']).toBeLessThanOrEqual(90);
  });

  it('provides the kubectl binaries the tests call', () => {
    const setup = steps.map(s => s.run ?? '').join('\n');
    expect(setup).toContain('/usr/lib/google-cloud-sdk/bin/kubectl.${minor}');
    expect(setup).toMatch(/for v in 1\.27\.\d+ 1\.33\.\d+/);
  });
});
