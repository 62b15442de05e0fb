// The hardware family's per-adapter tuning table: an exact architecture wins over the vendor's entry, anything
// else gets the default; and the tile rule follows the entry's minWorkgroups.
import { describe, expect, it } from 'vitest';
import { DEFAULT_HW_TUNING, hwTuningFor, type HwTuningEntry } from '../../../src/engine/gpu/hw-tuning.ts';
import { hwMatmulTile } from '../../../src/engine/ops/matmul-hw.ts';

const TABLE: HwTuningEntry[] = [
  { vendor: 'nvidia', architecture: '', tuning: { minWorkgroups: 256 }, source: 'test' },
  { vendor: 'nvidia', architecture: 'ampere', tuning: { minWorkgroups: 64 }, source: 'test' },
];

describe('hardware tuning table', () => {
  it('an exact architecture, then the vendor, then the default', () => {
    expect(hwTuningFor({ vendor: 'NVIDIA', architecture: 'Ampere' }, TABLE).minWorkgroups).toBe(64);
    expect(hwTuningFor({ vendor: 'nvidia', architecture: 'hopper' }, TABLE).minWorkgroups).toBe(256);
    expect(hwTuningFor({ vendor: 'apple', architecture: 'metal-3' }, TABLE)).toBe(DEFAULT_HW_TUNING);
    expect(hwTuningFor({ vendor: 'google', architecture: 'swiftshader' })).toBe(DEFAULT_HW_TUNING);
  });

  it('the tile rule takes the largest tile reaching minWorkgroups', () => {
    // 2048 × 192: 64×64 launches 32 × 3 = 96 workgroups
    expect(hwMatmulTile(2048, 192, 1, 64)).toEqual({ M: 64, N: 64 });
    expect(hwMatmulTile(2048, 192, 1, 128)).toEqual({ M: 32, N: 64 });
    expect(hwMatmulTile(2048, 192, 1, 1024)).toEqual({ M: 32, N: 32 });
  });
});
