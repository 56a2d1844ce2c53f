import type { Entity } from '@backstage/catalog-model';
import { isVolumeManagerAvailable, volumeManagerPlugin } from './plugin';

const entity = (annotations?: Record<string, string>): Entity => ({
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: { name: 'x', annotations },
});

describe('volumeManagerPlugin', () => {
  it('has the backend plugin id', () => {
    expect(volumeManagerPlugin.getId()).toBe('volume-manager');
  });
});

describe('isVolumeManagerAvailable', () => {
  it('accepts kubernetes-id and kubernetes-label-selector', () => {
    expect(
      isVolumeManagerAvailable(entity({ 'backstage.io/kubernetes-id': 'a' })),
    ).toBe(true);
    expect(
      isVolumeManagerAvailable(
        entity({ 'backstage.io/kubernetes-label-selector': 'app=a' }),
      ),
    ).toBe(true);
  });

  it('rejects entities without them, including namespace-only and empty values', () => {
    expect(isVolumeManagerAvailable(entity())).toBe(false);
    expect(
      isVolumeManagerAvailable(
        entity({ 'backstage.io/kubernetes-namespace': 'payments' }),
      ),
    ).toBe(false);
    expect(
      isVolumeManagerAvailable(entity({ 'backstage.io/kubernetes-id': '' })),
    ).toBe(false);
  });
});
