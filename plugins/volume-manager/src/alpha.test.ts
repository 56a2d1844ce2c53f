import volumeManagerPlugin from './alpha';

describe('volume-manager alpha plugin', () => {
  it('uses the backend plugin id', () => {
    expect(volumeManagerPlugin.id).toBe('volume-manager');
  });

  it.each([
    'api:volume-manager',
    'entity-content:volume-manager',
    'page:volume-manager',
    'nav-item:volume-manager',
  ] as const)('provides %s', id => {
    // getExtension throws for an id the plugin does not have.
    expect(volumeManagerPlugin.getExtension(id)).toBeDefined();
  });
});
