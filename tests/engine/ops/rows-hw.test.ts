// The hardware family's row shape (ops/rows-hw.ts hwRowShape) on the widths models have: the vec4 variant exactly
// when a row starts on a 16-byte boundary, no lane without a first element, 64–256 invocations a workgroup.
import { describe, expect, it } from 'vitest';
import { HW_ROWS, hwDwCols, hwRowFile, hwRowShape } from '../../../src/engine/ops/rows-hw.ts';

describe('hwRowShape', () => {
  it('picks the variant, lanes and rows per workgroup by width', () => {
    expect(hwRowShape(576)).toEqual({ vec4: true, lanes: 128, rows: 1 }); // SmolLM2-135M hidden: 144 vec4s
    expect(hwRowShape(64)).toEqual({ vec4: true, lanes: 16, rows: 4 }); // a head's q/k norm: rows share a workgroup
    expect(hwRowShape(49152)).toEqual({ vec4: true, lanes: 256, rows: 1 }); // SmolLM2's vocabulary
    expect(hwRowShape(299)).toEqual({ vec4: false, lanes: 256, rows: 1 });
    expect(hwRowShape(5)).toEqual({ vec4: false, lanes: 4, rows: 16 });
    expect(hwRowShape(1)).toEqual({ vec4: false, lanes: 1, rows: 64 });
  });

  it('keeps every workgroup within 64–256 invocations and every lane busy', () => {
    for (let width = 1; width <= 5000; width++) {
      const s = hwRowShape(width);
      const units = s.vec4 ? width / 4 : width;
      expect(s.lanes * s.rows).toBeGreaterThanOrEqual(HW_ROWS.minThreads);
      expect(s.lanes * s.rows).toBeLessThanOrEqual(HW_ROWS.maxLanes);
      expect(s.lanes).toBeLessThanOrEqual(units);
      expect(s.vec4).toBe(width % 4 === 0);
    }
  });
});

describe('hwDwCols', () => {
  it('narrows the dγ column block until the pass launches enough workgroups', () => {
    expect(hwDwCols(144)).toBe(4); // SmolLM2-135M: 36 workgroups, not 9
    expect(hwDwCols(1024)).toBe(8); // hidden 4096: 128 workgroups
    expect(hwDwCols(2048)).toBe(16);
  });
});

describe('hwRowFile', () => {
  it('names the f16 storage variants: vec4 rows keep their file, even rows not a multiple of 4 take the vec2 file', () => {
    expect(hwRowFile('hw_rmsnorm', 72)).toEqual({ file: 'hw_rmsnorm', lanes: 16, rows: 4, qw: 4 });
    expect(hwRowFile('hw_rmsnorm', 18)).toEqual({ file: 'hw_rmsnorm_x1', lanes: 16, rows: 4, qw: 1 });
    expect(hwRowFile('hw_rmsnorm', 576, ['y16'])).toEqual({ file: 'hw_rmsnorm+y16', lanes: 128, rows: 1, qw: 4 });
    expect(hwRowFile('hw_rmsnorm', 18, ['x16', 'y16'])).toEqual({ file: 'hw_rmsnorm_x2+x16+y16', lanes: 8, rows: 8, qw: 2 }); // 9 words a row
    expect(() => hwRowFile('hw_rmsnorm', 7, ['y16'])).toThrow(/even width, got 7/);
  });
});
