import { installationIdResolver } from './installationId';

describe('installationIdResolver', () => {
  it('prefers the configured id and never asks the store', async () => {
    const store = { installationId: jest.fn(async () => 'stored') };
    await expect(installationIdResolver('prod-eu', store)()).resolves.toBe('prod-eu');
    expect(store.installationId).not.toHaveBeenCalled();
  });

  it('asks the store once, and again only after a failed lookup', async () => {
    const store = {
      installationId: jest.fn<Promise<string>, []>().mockRejectedValueOnce(new Error('no table yet')).mockResolvedValue('uuid-1'),
    };
    const resolve = installationIdResolver(undefined, store);
    await expect(resolve()).rejects.toThrow('no table yet');
    await expect(resolve()).resolves.toBe('uuid-1');
    await expect(resolve()).resolves.toBe('uuid-1');
    expect(store.installationId).toHaveBeenCalledTimes(2);
  });
});
