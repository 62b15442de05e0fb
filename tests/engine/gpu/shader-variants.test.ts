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

  it('combines tags over different libraries: f16 activations (+a16, +x16, +y16) with an f16 KV cache (+f16)', () => {
    const both = variantSource('hw_attention+a16+f16', false)!.replace(/\s+/g, '');
    expect(both).toContain('var<storage,read>k4:array<vec2u>'); // _kv_load_f16
    expect(both).toContain('var<storage,read>q:array<u32>'); // _hw_attention_io_a16
    expect(both).toContain('constPAIR=2u;');
    expect(variantSource('hw_attention+f16+a16', false)!.replace(/\s+/g, '')).toBe(both);
    const norm = variantSource('hw_rmsnorm_x2+x16+y16', false)!.replace(/\s+/g, '');
    expect(norm).toContain('var<storage,read>x:array<QH>');
    expect(norm).toContain('var<storage,read_write>y:array<QH>');
    expect(variantSource('hw_rmsnorm+y16', true)!.startsWith('enable subgroups;')).toBe(true);
  });

  it('combines tags: hw_matmul+a16+c16 takes both f16 twins, each single tag one of them', () => {
    const base = variantSource('hw_matmul', false)!;
    const a16 = variantSource('hw_matmul+a16', false)!;
    const c16 = variantSource('hw_matmul+c16', false)!;
    const both = variantSource('hw_matmul+a16+c16', false)!;
    const flat = (s: string) => s.replace(/\s+/g, '');
    const aF16 = 'var<storage,read>A:array<vec2u>';
    const cF16 = 'var<storage,read_write>C:array<u32>';
    expect(new Set([base, a16, c16, both]).size).toBe(4);
    expect(flat(base)).not.toContain(aF16);
    expect(flat(base)).not.toContain(cF16);
    expect(flat(a16)).toContain(aF16);
    expect(flat(a16)).not.toContain(cF16);
    expect(flat(c16)).toContain(cF16);
    expect(flat(c16)).not.toContain(aF16);
    expect(flat(both)).toContain(aF16);
    expect(flat(both)).toContain(cF16);
    // the order of the tags does not matter: each names a different library's twin
    expect(variantSource('hw_matmul+c16+a16', false)).toBe(both);
  });

  it('hw_matmul+b16 reads B as f16 pairs (_hw_b_b16), alone and with +a16 / +c16 in any order; only hw_matmul has it', () => {
    const flat = (s: string) => s.replace(/\s+/g, '');
    const bF32 = 'var<storage,read>B:array<vec4f>';
    const bF16 = 'var<storage,read>B:array<vec2u>';
    const aF16 = 'var<storage,read>A:array<vec2u>';
    const cF16 = 'var<storage,read_write>C:array<u32>';
    expect(flat(variantSource('hw_matmul', false)!)).toContain(bF32);
    const b16 = flat(variantSource('hw_matmul+b16', false)!);
    expect(b16).toContain(bF16);
    expect(b16).not.toContain(bF32);
    expect(b16).not.toContain(aF16);
    expect(b16).not.toContain(cF16);
    const all = flat(variantSource('hw_matmul+a16+b16+c16', false)!);
    for (const decl of [aF16, bF16, cF16]) expect(all).toContain(decl);
    expect(flat(variantSource('hw_matmul+c16+b16+a16', false)!)).toBe(all);
    expect(flat(variantSource('hw_matmul+a16+b16', false)!)).not.toContain(cF16);
    // B is the weight's own storage in these: no f16-activation B
    for (const k of ['hw_matmul_w16', 'hw_matmul_q', 'hw_matvec', 'hw_matvec_w16']) expect(variantSource(`${k}+b16`, false)).toBeUndefined();
  });

  it('the attention backward reads an f16 forward\'s q (+a16) and k, v (+f16) through its own twins, either tag order', () => {
    const flat = (s: string) => s.replace(/\s+/g, '');
    const base = flat(variantSource('hw_attention_backward', false)!);
    const a16 = flat(variantSource('hw_attention_backward+a16', false)!);
    const both = flat(variantSource('hw_attention_backward+a16+f16', false)!);
    expect(base).toContain('var<storage,read>q:array<f32>');
    expect(base).toContain('var<storage,read>k:array<f32>');
    expect(a16).toContain('var<storage,read>q:array<u32>');
    expect(a16).toContain('var<storage,read>k:array<f32>');
    expect(both).toContain('var<storage,read>q:array<u32>');
    expect(both).toContain('var<storage,read>k:array<u32>');
    expect(both).toContain('var<storage,read>v:array<u32>');
    expect(flat(variantSource('hw_attention_backward+f16+a16', false)!)).toBe(both);
  });

  it('names no file for a tag no included library has, or an unknown kernel', () => {
    expect(variantSource('attention+nosuchtag', false)).toBeUndefined();
    expect(variantSource('attention+f16+nosuchtag', false)).toBeUndefined();
    expect(variantSource('nosuchkernel+f16', false)).toBeUndefined();
  });
});
