import { describe, expect, it } from 'vitest';
import { sizeClass } from '../../../src/engine/gpu/buffer-pool.ts';

describe('buffer size classes', () => {
  it('round small buffers to 256 bytes and big ones to 64 KiB, never below the request', () => {
    expect(sizeClass(1)).toBe(256);
    expect(sizeClass(1000)).toBe(1024);
    expect(sizeClass(1 << 20)).toBe(1 << 20);
    expect(sizeClass((1 << 20) + 1)).toBe((1 << 20) + 65536);
    // SmolLM2-360M's tied embedding in BF16: 49152 × 960 × 2 bytes, wasted bytes bounded by one class step
    const emb = 49152 * 960 * 2;
    expect(sizeClass(emb)).toBeGreaterThanOrEqual(emb);
    expect(sizeClass(emb) - emb).toBeLessThan(65536);
    for (let n = 1; n < 5e6; n = Math.ceil(n * 1.37)) expect(sizeClass(n)).toBeGreaterThanOrEqual(n);
  });
});
