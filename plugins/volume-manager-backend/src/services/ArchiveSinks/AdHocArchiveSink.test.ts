import { mockServices } from '@backstage/backend-test-utils';
import { Readable } from 'node:stream';
import { AdHocArchiveSink, adHocArchiveUri } from './AdHocArchiveSink';
import type { ArchiveSink } from './types';

describe('AdHocArchiveSink', () => {
  it('cannot read archives back, even when the destination it wraps could', () => {
    const inner: ArchiveSink = {
      id: 'adhoc:ftp',
      type: 'ftp',
      open: jest.fn(),
      read: jest.fn(async () => ({ stream: Readable.from([]), sidecarSha256: 'a'.repeat(64) })),
    };
    const sink: ArchiveSink = new AdHocArchiveSink(inner, mockServices.logger.mock());
    expect(sink.read).toBeUndefined();
    expect(inner.read).not.toHaveBeenCalled();
    // Its URI could not name the archive anyway: no host, user or path.
    expect(
      adHocArchiveUri('ftp', { cluster: 'c1', namespace: 'ns', pvc: 'data', startedAt: new Date('2026-12-04T10:00:00Z') }),
    ).toBe('adhoc://ftp/data-20261204T100000Z.tar.gz');
  });
});
