import { stagingName } from './RestoreExecutor';
import { formatBytes, mebibytes, parseQuantity } from './quantity';

describe('parseQuantity', () => {
  it.each([
    ['10Gi', 10 * 2 ** 30],
    ['64Ki', 65536],
    ['1.5Mi', 1.5 * 2 ** 20],
    ['500M', 500e6],
    ['2k', 2000],
    ['1e3', 1000],
    ['1E9', 1e9],
    ['123', 123],
    ['100m', 1],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseQuantity(text)).toBe(bytes);
  });

  it.each(['', 'Gi', '10 Gi', '10GB', '-1Gi', '1..5Mi', '0x10', '10Gi; rm -rf /'])('refuses %j', text => {
    expect(parseQuantity(text)).toBeUndefined();
  });
});

describe('mebibytes and formatBytes', () => {
  it('rounds up to whole Mi, at least 1Mi', () => {
    expect(mebibytes(0)).toBe('1Mi');
    expect(mebibytes(2 ** 20)).toBe('1Mi');
    expect(mebibytes(2 ** 20 + 1)).toBe('2Mi');
  });
  it('formats sizes for messages', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(65536)).toBe('64.0 KiB');
    expect(formatBytes(3 * 2 ** 30)).toBe('3.0 GiB');
  });
});

describe('stagingName', () => {
  it('keeps only DNS-label characters of the restore id, so it is safe on a shell command line', () => {
    expect(stagingName('0123abcd-ef01-4234-8567-89abcdef0123')).toBe('.nkvm-restore-0123abcd-ef01-4234-8567-89abcdef0123');
    expect(stagingName('../../etc; rm -rf /data $(id) `x`')).toBe('.nkvm-restore-etcrm-rfdataidx');
  });
  it('refuses an id with nothing usable', () => {
    expect(() => stagingName('../;$()')).toThrow(/no usable staging directory name/);
  });
});
