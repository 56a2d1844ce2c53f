import {
  formatBytes,
  formatDuration,
  formatRelativeTime,
  parseQuantity,
} from './format';
import { describeProgress } from '../BackupProgress';
import { backupItem } from '../../__fixtures__/fakeVolumeManagerApi';

describe('format helpers', () => {
  it('parses Kubernetes quantities', () => {
    expect(parseQuantity('8Gi')).toBe(8 * 2 ** 30);
    expect(parseQuantity('500M')).toBe(500e6);
    expect(parseQuantity('1e3')).toBe(1000);
    expect(parseQuantity('1.5Ki')).toBe(1536);
    expect(parseQuantity('lots')).toBeUndefined();
    expect(parseQuantity(null)).toBeUndefined();
  });

  it('formats bytes, durations and relative times', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(200 * 2 ** 20)).toBe('200 MiB');
    expect(formatBytes(null)).toBe('—');
    expect(formatDuration(0.25)).toBe('250 ms');
    expect(formatDuration(42)).toBe('42 s');
    expect(formatDuration(185)).toBe('3 min 5 s');
    expect(formatDuration(7800)).toBe('2 h 10 min');
    const now = Date.parse('2026-11-26T12:00:00Z');
    expect(formatRelativeTime('2026-11-26T11:59:55Z', now)).toBe('just now');
    expect(formatRelativeTime('2026-11-26T11:57:00Z', now)).toBe('3 minutes ago');
    expect(formatRelativeTime('2026-11-25T12:00:00Z', now)).toBe('yesterday');
  });
});

describe('describeProgress', () => {
  const running = backupItem({
    status: 'running',
    progress: { bytes: 256 * 2 ** 20, bytesPerSecond: 64 * 2 ** 20 },
  });

  it('bounds the ETA by the capacity and says it is an upper bound', () => {
    const p = describeProgress(running, 2 ** 30);
    expect(p.text).toBe('256 MiB streamed · 64.0 MiB/s · at most 12 s left');
    expect(p.percent).toBe(25);
    expect(p.note).toMatch(/upper bound/);
  });

  it('gives no ETA without a size, and a final line for ended items', () => {
    expect(describeProgress(running).text).toBe('256 MiB streamed · 64.0 MiB/s');
    expect(describeProgress(running).percent).toBeUndefined();
    expect(describeProgress(backupItem()).text).toBe('Backed up 1.0 KiB in 5.0 s');
    expect(describeProgress(backupItem({ status: 'failed', error: 'exec closed without a status' })).text).toBe(
      'failed: exec closed without a status',
    );
    expect(describeProgress(backupItem({ status: 'cancelled', error: null })).text).toBe('The backup was cancelled');
  });
});
