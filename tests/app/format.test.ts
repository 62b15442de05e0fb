// The studio's display helpers: one size unit (decimal GB / MB / KB) for storage and GPU memory alike, and the
// Train panel's budget typed in that same unit, so what is typed is what is shown.
import { describe, expect, it } from 'vitest';
import { BYTES_PER_GB, formatBytes, formatCount, gbToBytes } from '../../src/app/lib/format.ts';

describe('formatBytes', () => {
  it('uses decimal SI units: 1000 per step, one decimal below 10, whole numbers above', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(1000)).toBe('1.0 KB');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(65_536)).toBe('66 KB');
    expect(formatBytes(269_100_416)).toBe('269 MB');
    expect(formatBytes(2 ** 30)).toBe('1.1 GB'); // a 1 GiB binding limit, in the studio's one unit
    expect(formatBytes(3.4e12)).toBe('3.4 TB');
    expect(formatBytes(5e15)).toBe('5000 TB');
  });

  it('shows a budget typed in GB as the same number of GB (a 4 GiB budget once read "4.3 GB")', () => {
    expect(BYTES_PER_GB).toBe(1e9);
    expect(gbToBytes(4)).toBe(4_000_000_000);
    expect(formatBytes(gbToBytes(4))).toBe('4.0 GB');
    expect(formatBytes(gbToBytes(0.5))).toBe('500 MB');
    expect(formatBytes(gbToBytes(12))).toBe('12 GB');
    expect(gbToBytes(0.1 + 0.2)).toBe(300_000_000); // whole bytes
  });
});

describe('formatCount', () => {
  it('shows parameter counts in K / M / B', () => {
    expect(formatCount(999)).toBe('999');
    expect(formatCount(1536)).toBe('1.54 K');
    expect(formatCount(134_515_008)).toBe('134.5 M');
    expect(formatCount(1_711_376_384)).toBe('1.71 B');
  });
});
