// The storage variants of gpu/kernels.ts variantSource: `NAME+TAG…` swaps each included library for its _TAG
// twin, tags combined in order, and names no file when a tag matches nothing the kernel includes.
import { describe, expect, it } from 'vitest';
import { SHADER_SOURCES, variantSource } from '../../../src/engine/gpu/kernels.ts';

describe('variantSource', () => {
  it('is the plain source without a tag, and swaps in the f16 KV loader for attention+f16', () => {
    expect(variantSource('attention', false)).toBe(SHADER_SOURCES['attention']);
    const f16 = variantSource('attention+f16', false)!;
    expect(f16).toContain('array<vec2u>');
    expect(f16).not.toBe(SHADER_SOURCES['attention']);
    expect(f16.replace(/\s+/g, '')).not.toContain('var<storage,read>k4:array<vec4f>');
  });

  it('names no file for a tag no included library has, or an unknown kernel', () => {
    expect(variantSource('attention+nosuchtag', false)).toBeUndefined();
    expect(variantSource('attention+f16+nosuchtag', false)).toBeUndefined();
    expect(variantSource('nosuchkernel+f16', false)).toBeUndefined();
  });
});
