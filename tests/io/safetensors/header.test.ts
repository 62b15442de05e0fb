import { describe, expect, it } from 'vitest';
import { AlloyError } from '../../../src/common/errors.ts';
import { firstDuplicateTopLevelKey, parseHeader } from '../../../src/io/safetensors/header.ts';
import { headerOf, rawSafetensors } from './raw.ts';

const F = 'model.safetensors';

function parse(header: string | object, dataBytes: number) {
  const [h, size] = headerOf(rawSafetensors(header, dataBytes));
  return parseHeader(h, F, size);
}

function errorOf(fn: () => unknown): AlloyError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AlloyError);
    return e as AlloyError;
  }
  throw new Error('expected an error');
}

describe('parseHeader', () => {
  it('parses the reference example, with metadata and relative offsets in data order', () => {
    const h = parse(
      {
        __metadata__: { format: 'pt' },
        'model.norm.weight': { dtype: 'F32', shape: [4], data_offsets: [24, 40] },
        'model.embed_tokens.weight': { dtype: 'BF16', shape: [3, 4], data_offsets: [0, 24] },
      },
      40,
    );
    expect(h.metadata).toEqual({ format: 'pt' });
    expect(h.tensors).toEqual([
      { name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [3, 4], begin: 0, end: 24 },
      { name: 'model.norm.weight', dtype: 'F32', shape: [4], begin: 24, end: 40 },
    ]);
  });

  it('accepts no metadata, 0-dim and empty tensors, and trailing spaces', () => {
    const h = parse(
      '{"scalar":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"empty":{"dtype":"F16","shape":[0,5],"data_offsets":[8,8]}}   ',
      8,
    );
    expect(h.metadata).toEqual({});
    expect(h.tensors.map((t) => [t.name, t.shape])).toEqual([
      ['scalar', []],
      ['empty', [0, 5]],
    ]);
    expect(parse('{}', 0).tensors).toEqual([]);
  });

  it('names file and tensor on a shape/size mismatch', () => {
    const e = errorOf(() => parse({ 'model.norm.weight': { dtype: 'F32', shape: [64], data_offsets: [0, 128] } }, 128));
    expect(e.message).toBe(
      'model.safetensors: tensor "model.norm.weight": shape [64] × F32 needs 256 bytes but data_offsets span 128',
    );
    expect(e.where).toEqual({ file: F, tensor: 'model.norm.weight', field: 'data_offsets' });
  });

  it('refuses an unknown dtype, listing the known ones', () => {
    const e = errorOf(() => parse({ w: { dtype: 'F128', shape: [1], data_offsets: [0, 16] } }, 16));
    expect(e.message).toMatch(/^model\.safetensors: tensor "w": unknown dtype "F128" \(supported: BOOL, U8,.*BF16.*U64\)$/);
    expect(e.where.field).toBe('dtype');
  });

  it('refuses overlapping offsets, naming both tensors', () => {
    const e = errorOf(() =>
      parse(
        {
          a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
          b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
        },
        12,
      ),
    );
    expect(e.message).toBe('model.safetensors: tensor "b": data_offsets [4, 12] overlap tensor "a" [0, 8]');
    expect(e.where.tensor).toBe('b');
  });

  it('refuses a hole between tensors', () => {
    const e = errorOf(() =>
      parse(
        {
          a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
          b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
        },
        12,
      ),
    );
    expect(e.message).toMatch(/tensor "b": data_offsets \[8, 12\] leave a hole of 4 bytes after tensor "a"/);
  });

  it('refuses offsets past the data region', () => {
    const e = errorOf(() => parse({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8));
    expect(e.message).toMatch(
      /^model\.safetensors: tensor "a": data_offsets \[0, 16\] run past the end of the data region \(8 bytes\)/,
    );
  });

  it('refuses trailing bytes the header does not account for', () => {
    const e = errorOf(() => parse({ a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] } }, 10));
    expect(e.message).toMatch(/6 unexplained trailing bytes/);
  });

  it('refuses malformed entries with the field named', () => {
    const bad = (entry: unknown) => errorOf(() => parse({ t: entry }, 4));
    expect(bad({ dtype: 'U8', shape: [-4], data_offsets: [0, 4] }).message).toMatch(
      /tensor "t": shape \[-4\] is not a list of non-negative integers/,
    );
    expect(bad({ dtype: 'U8', shape: [1.5], data_offsets: [0, 4] }).where.field).toBe('shape');
    expect(bad({ dtype: 'U8', shape: [4], data_offsets: [0] }).message).toMatch(/data_offsets \[0\] is not a pair/);
    expect(bad({ dtype: 'U8', shape: [4], data_offsets: [4, 0] }).message).toMatch(/end before they begin/);
    expect(bad({ dtype: 'U8', shape: [4] }).where.field).toBe('data_offsets');
    expect(bad([1, 2]).message).toMatch(/tensor "t": entry is not an object/);
  });

  it('refuses invalid JSON, non-objects and headers not starting with {', () => {
    expect(errorOf(() => parse('{"a": {"dtype": "F32",', 0)).message).toMatch(
      /^model\.safetensors: header is not valid JSON/,
    );
    expect(errorOf(() => parse(' {}', 0)).message).toMatch(/does not start with "\{"/);
    expect(errorOf(() => parse('[1,2,3]', 0)).message).toMatch(/does not start with "\{"/);
  });

  it('refuses a header that is not UTF-8', () => {
    const file = rawSafetensors('{"a":1}', 0);
    file[10] = 0xff;
    const [h, size] = headerOf(file);
    expect(() => parseHeader(h, F, size)).toThrow(/header is not valid UTF-8/);
  });

  it('refuses non-string metadata', () => {
    const e = errorOf(() => parse({ __metadata__: { format: 'pt', step: 5 } }, 0));
    expect(e.message).toMatch(/"__metadata__"\."step" must be a string, got 5/);
    expect(errorOf(() => parse({ __metadata__: 'pt' }, 0)).where.field).toBe('__metadata__');
  });

  it('refuses duplicate tensor names, which JSON.parse would silently merge', () => {
    const text =
      '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}';
    const e = errorOf(() => parse(text, 1));
    expect(e.message).toBe('model.safetensors: tensor "a": header names this key twice');
  });

  it('scans only top-level keys for duplicates, through escapes and nesting', () => {
    expect(firstDuplicateTopLevelKey('{"a":{"x":1,"x":2},"b":"a","c\\"":[{"a":1}]}')).toBeUndefined();
    expect(firstDuplicateTopLevelKey('{"a\\"b":1, "c":[1,2], "a\\"b" :2}')).toBe('a"b');
  });

  it('refuses a header longer than the file allows', () => {
    expect(() => parseHeader(new TextEncoder().encode('{}      '), F, 12)).toThrow(
      /header length 8 is larger than the file allows \(12 bytes in all\)/,
    );
  });
});
