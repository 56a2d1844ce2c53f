import { isDnsLabel, isDnsSubdomain, isStorageQuantity } from './kubernetesNames';

describe('Kubernetes names and sizes', () => {
  it('accepts DNS-1123 labels of at most 63 characters only', () => {
    for (const ok of ['payments', 'a', 'a-1', 'x'.repeat(63)]) expect(isDnsLabel(ok)).toBe(true);
    for (const bad of ['', 'Payments', '-a', 'a-', 'a.b', 'a_b', '../x', 'x'.repeat(64)]) {
      expect(isDnsLabel(bad)).toBe(false);
    }
  });

  it('accepts DNS-1123 subdomains of at most 253 characters only', () => {
    for (const ok of ['data-0', 'a.b-c.d', `${'x'.repeat(63)}.${'y'.repeat(63)}`]) {
      expect(isDnsSubdomain(ok)).toBe(true);
    }
    for (const bad of ['', 'a..b', '.a', 'a.', '../etc', 'A', 'a/b', 'a b', `${'x.'.repeat(127)}x`]) {
      expect(isDnsSubdomain(bad)).toBe(false);
    }
  });

  it('accepts the sizes the restore API accepts', () => {
    for (const ok of ['1', '2Gi', '1.5Gi', '500Mi', '10G', '1k']) expect(isStorageQuantity(ok)).toBe(true);
    for (const bad of ['', '0', '0Gi', '-1Gi', '.5Gi', '1gi', '1 Gi', 'Gi', '1e3', `${'9'.repeat(31)}Gi`]) {
      expect(isStorageQuantity(bad)).toBe(false);
    }
  });
});
