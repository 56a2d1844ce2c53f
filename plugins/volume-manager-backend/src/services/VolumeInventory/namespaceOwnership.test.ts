import type { V1Namespace } from '@kubernetes/client-node';
import { namespaceOwners } from './namespaceOwnership';

const ns = (name: string, labels?: Record<string, string>): V1Namespace => ({ metadata: { name, labels } });
const LABEL = 'volume-manager.nkvm.io/owner';

describe('namespaceOwners', () => {
  const binding = { namespaceLabel: LABEL, defaultOwnerKind: 'group', defaultOwnerNamespace: 'default', namespaces: {} };

  it("completes a label value to a full ref and ignores namespaces without the label", () => {
    const ownerOf = namespaceOwners(binding, [
      ns('payments', { [LABEL]: 'team-payments' }),
      ns('search', { team: 'search' }),
      ns('odd', { [LABEL]: 'Team-Odd' }),
    ]);
    expect(['payments', 'search', 'odd', 'unknown'].map(ownerOf)).toEqual([
      'group:default/team-payments',
      undefined,
      'group:default/team-odd',
      undefined,
    ]);
  });

  it('uses the configured default kind and namespace, and lets config entries win', () => {
    const ownerOf = namespaceOwners(
      { ...binding, defaultOwnerKind: 'user', defaultOwnerNamespace: 'people', namespaces: { payments: 'group:default/finance' } },
      [ns('payments', { [LABEL]: 'team-payments' }), ns('dev', { [LABEL]: 'alice' })],
    );
    expect(ownerOf('payments')).toBe('group:default/finance');
    expect(ownerOf('dev')).toBe('user:people/alice');
  });

  it('reads no labels when only config binds namespaces', () => {
    const ownerOf = namespaceOwners({ ...binding, namespaceLabel: undefined, namespaces: { a: 'group:default/x' } }, [
      ns('b', { [LABEL]: 'team-b' }),
    ]);
    expect([ownerOf('a'), ownerOf('b')]).toEqual(['group:default/x', undefined]);
  });
});
