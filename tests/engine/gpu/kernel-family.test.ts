// Which kernel family a device gets: parsing the forcing switches (ALLOY_KERNELS, ?kernels=, ALLOY_SUBGROUPS,
// ?subgroups=) and telling a software adapter from a GPU. acquireDevice itself is exercised by every GPU test
// (SwiftShader → 'software' by default; tests/engine/model/hardware-family.gpu.test.ts forces 'hardware').
import { describe, expect, it } from 'vitest';
import { isSoftwareAdapter } from '../../../src/engine/gpu/device.ts';
import { parseKernelFamily, parseSubgroups } from '../../../src/engine/kernel-family.ts';
import { hwMatmulTile, matvecLanes, HW_TILES, MATVEC } from '../../../src/engine/ops/matmul-hw.ts';

describe('kernel family', () => {
  it('parses software and hardware; unset means "by adapter"; anything else is refused, naming the switch', () => {
    expect(parseKernelFamily('software', 'ALLOY_KERNELS')).toBe('software');
    expect(parseKernelFamily('hardware', '?kernels')).toBe('hardware');
    expect(parseKernelFamily(undefined, 'ALLOY_KERNELS')).toBeUndefined();
    expect(parseKernelFamily(null, '?kernels')).toBeUndefined();
    expect(parseKernelFamily('', 'ALLOY_KERNELS')).toBeUndefined();
    expect(() => parseKernelFamily('gpu', 'ALLOY_KERNELS')).toThrow(/ALLOY_KERNELS=gpu: the kernel family must be software or hardware/);
  });

  it('parses the subgroups switch: on, off, unset ("when the device has them"); anything else is refused', () => {
    expect(parseSubgroups('on', 'ALLOY_SUBGROUPS')).toBe(true);
    expect(parseSubgroups('off', 'ALLOY_SUBGROUPS')).toBe(false);
    expect(parseSubgroups(undefined, 'ALLOY_SUBGROUPS')).toBeUndefined();
    expect(parseSubgroups('', 'ALLOY_SUBGROUPS')).toBeUndefined();
    expect(() => parseSubgroups('yes', 'ALLOY_SUBGROUPS')).toThrow(/ALLOY_SUBGROUPS=yes: subgroups must be on or off/);
    // the studio's ?subgroups= goes through the same parser (studio-client.svelte.ts), named as in the address
    expect(parseSubgroups('off', '?subgroups')).toBe(false);
    expect(parseSubgroups(null, '?subgroups')).toBeUndefined();
    expect(() => parseSubgroups('1', '?subgroups')).toThrow(/\?subgroups=1: subgroups must be on or off/);
  });

  it('software adapters by name or by the fallback flag; GPUs are hardware', () => {
    const info = (vendor: string, architecture: string, description: string, isFallbackAdapter = false) => ({
      adapterInfo: { vendor, architecture, description, isFallbackAdapter },
    });
    expect(isSoftwareAdapter(info('google', 'swiftshader', 'SwiftShader driver 5.0.0'))).toBe(true);
    expect(isSoftwareAdapter(info('mesa', '', 'llvmpipe (LLVM 15.0.6, 256 bits)'))).toBe(true);
    expect(isSoftwareAdapter(info('microsoft', '', 'Microsoft Basic Render Driver (WARP)'))).toBe(true);
    expect(isSoftwareAdapter(info('', '', '', true))).toBe(true);
    expect(isSoftwareAdapter(info('nvidia', 'ampere', 'NVIDIA GeForce RTX 3060 Laptop GPU'))).toBe(false);
    expect(isSoftwareAdapter(info('apple', 'metal-3', ''))).toBe(false);
    expect(isSoftwareAdapter(info('intel', 'xe-lp', 'Intel(R) Iris(R) Xe Graphics'))).toBe(false);
  });
});

describe('hardware matmul shapes', () => {
  it('tiles hold 64–256 threads and fit 16 KB of workgroup memory', () => {
    for (const t of HW_TILES) {
      expect((t.M / 4) * (t.N / 4)).toBeGreaterThanOrEqual(64);
      expect((t.M / 4) * (t.N / 4)).toBeLessThanOrEqual(256);
    }
    expect(hwMatmulTile(2048, 576)).toEqual({ M: 64, N: 64 });
    expect(hwMatmulTile(1, 1)).toEqual({ M: 32, N: 32 });
  });
  it('mat-vec lanes: no more than K has quads, at most maxLanes, a power of 2 dividing the workgroup', () => {
    expect(matvecLanes(1)).toBe(1);
    expect(matvecLanes(12)).toBe(4);
    expect(matvecLanes(64)).toBe(16);
    expect(matvecLanes(65)).toBe(32);
    expect(matvecLanes(2048)).toBe(MATVEC.maxLanes);
    for (const K of [1, 7, 64, 300, 4096]) expect(MATVEC.threads % matvecLanes(K)).toBe(0);
  });
});
