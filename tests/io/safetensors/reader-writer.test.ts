import { describe, expect, it } from 'vitest';
import { bytesSource } from '../../../src/io/bytes.ts';
import { AlloyError } from '../../../src/common/errors.ts';
import { encodeFromF32, f32Bits } from '../../../src/io/safetensors/dtypes.ts';
import { openSafetensors } from '../../../src/io/safetensors/reader.ts';
import { writeSafetensors, type TensorToWrite } from '../../../src/io/safetensors/writer.ts';
import { MemorySink, loggingSource } from './memory-sink.ts';
import { rawSafetensors } from './raw.ts';

const values = (n: number, scale = 1) => Float32Array.from({ length: n }, (_, i) => (i - n / 3) * 0.173 * scale);

async function written(tensors: TensorToWrite[], metadata?: Record<string, string>): Promise<Uint8Array> {
  const sink = new MemorySink();
  await writeSafetensors(sink, tensors, metadata);
  expect(sink.closed).toBe(true);
  return sink.bytes();
}

function headerText(file: Uint8Array): string {
  const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  return new TextDecoder().decode(file.subarray(8, 8 + n));
}

async function rejection(p: Promise<unknown>): Promise<AlloyError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(AlloyError);
    return e as AlloyError;
  }
  throw new Error('expected a rejection');
}

describe('writeSafetensors', () => {
  it('writes the reference layout: metadata first, dtype-descending then name order, header padded to 8', async () => {
    const file = await written([
      { name: 'b', dtype: 'BF16', shape: [2], data: encodeFromF32('BF16', new Float32Array([1, 2])) },
      { name: 'z', dtype: 'F32', shape: [1], data: encodeFromF32('F32', new Float32Array([3])) },
      { name: 'ids', dtype: 'I64', shape: [1], data: new Uint8Array(8) },
      { name: 'a', dtype: 'BF16', shape: [1], data: encodeFromF32('BF16', new Float32Array([4])) },
    ]);
    const text = headerText(file);
    expect((text.length + 8) % 8).toBe(0);
    expect(text.trimEnd()).toBe(
      '{"__metadata__":{"format":"pt"},' +
        '"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},' +
        '"z":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},' +
        '"a":{"dtype":"BF16","shape":[1],"data_offsets":[12,14]},' +
        '"b":{"dtype":"BF16","shape":[2],"data_offsets":[14,18]}}',
    );
    expect(/^ *$/.test(text.slice(text.trimEnd().length))).toBe(true);
    expect(file.byteLength).toBe(8 + text.length + 18);
  });

  it('keeps the caller format, adds other metadata, and keeps integer-like names after __metadata__', async () => {
    const file = await written([{ name: '0', dtype: 'U8', shape: [1], data: new Uint8Array([9]) }], {
      format: 'mlx',
      step: '10',
    });
    expect(headerText(file).trimEnd()).toBe(
      '{"__metadata__":{"format":"mlx","step":"10"},"0":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}',
    );
  });

  it('produces lazy tensors one at a time, after the header is out', async () => {
    const sink = new MemorySink();
    const log: string[] = [];
    const lazy = (name: string, n: number): TensorToWrite => ({
      name,
      dtype: 'F32',
      shape: [n],
      data: async () => {
        log.push(`make ${name} after ${sink.chunks.length} writes`);
        return encodeFromF32('F32', values(n));
      },
    });
    await writeSafetensors(sink, [lazy('b', 3), lazy('a', 2)]);
    expect(log).toEqual(['make a after 2 writes', 'make b after 3 writes']);
  });

  it('refuses data whose length does not match shape × dtype, naming the tensor', async () => {
    const e = await rejection(
      writeSafetensors(new MemorySink(), [{ name: 'w', dtype: 'F16', shape: [2, 3], data: new Uint8Array(10) }]),
    );
    expect(e.message).toBe('tensor "w": shape [2,3] × F16 needs 12 bytes but 10 were given');
    const sink = new MemorySink();
    await rejection(
      writeSafetensors(sink, [{ name: 'w', dtype: 'F32', shape: [2], data: async () => new Uint8Array(4) }]),
    );
    expect(sink.closed).toBe(false);
  });

  it('refuses duplicate names', async () => {
    const t: TensorToWrite = { name: 'w', dtype: 'U8', shape: [1], data: new Uint8Array(1) };
    expect((await rejection(writeSafetensors(new MemorySink(), [t, t]))).message).toMatch(/"w" is given twice/);
  });
});

describe('openSafetensors', () => {
  it('round-trips F32, F16 and BF16 bit-exactly', async () => {
    const v = values(35, 3);
    const file = await written([
      { name: 'f32', dtype: 'F32', shape: [5, 7], data: encodeFromF32('F32', v) },
      { name: 'f16', dtype: 'F16', shape: [35], data: encodeFromF32('F16', v) },
      { name: 'bf16', dtype: 'BF16', shape: [7, 5], data: encodeFromF32('BF16', v) },
    ]);
    const st = await openSafetensors(bytesSource(file, 'rt.safetensors'));
    expect(st.name).toBe('rt.safetensors');
    expect(st.metadata).toEqual({ format: 'pt' });
    expect(st.tensors.get('f32')).toMatchObject({ dtype: 'F32', shape: [5, 7] });
    expect([...(await st.readF32('f32'))].map(f32Bits)).toEqual([...v].map(f32Bits));
    for (const dtype of ['F16', 'BF16'] as const) {
      const name = dtype.toLowerCase();
      expect(await st.readRaw(name)).toEqual(encodeFromF32(dtype, v));
      expect(encodeFromF32(dtype, await st.readF32(name))).toEqual(encodeFromF32(dtype, v));
    }
  });

  it('reads I64, I32 and U8 tensors as numbers', async () => {
    const i64 = new Uint8Array(new BigInt64Array([0n, -1n, 49151n]).buffer);
    const file = await written([
      { name: 'position_ids', dtype: 'I64', shape: [1, 3], data: i64 },
      { name: 'mask', dtype: 'U8', shape: [3], data: new Uint8Array([1, 0, 255]) },
      { name: 'counts', dtype: 'I32', shape: [2], data: new Uint8Array(new Int32Array([-5, 70000]).buffer) },
    ]);
    const st = await openSafetensors(bytesSource(file, 'ints.safetensors'));
    expect([...(await st.readF32('position_ids'))]).toEqual([0, -1, 49151]);
    expect([...(await st.readF32('mask'))]).toEqual([1, 0, 255]);
    expect([...(await st.readF32('counts'))]).toEqual([-5, 70000]);
  });

  it('reads only the length and the header when opening, and one tensor range per read', async () => {
    const file = await written([
      { name: 'a', dtype: 'F32', shape: [1000], data: encodeFromF32('F32', values(1000)) },
      { name: 'b', dtype: 'F32', shape: [10], data: encodeFromF32('F32', values(10)) },
    ]);
    const src = loggingSource(bytesSource(file, 'big.safetensors'));
    const st = await openSafetensors(src);
    const n = headerText(file).length;
    expect(src.reads).toEqual([
      [0, 8],
      [8, n],
    ]);
    expect(st.dataStart).toBe(8 + n);
    await st.readF32('b');
    expect(src.reads[2]).toEqual([8 + n + 4000, 40]);
  });

  it('refuses a file shorter than 8 bytes', async () => {
    const e = await rejection(openSafetensors(bytesSource(new Uint8Array(5), 'tiny.safetensors')));
    expect(e.message).toMatch(/^tiny\.safetensors: file is 5 bytes, shorter than the 8-byte header length/);
    expect(e.where.file).toBe('tiny.safetensors');
  });

  it('refuses a header length larger than the file', async () => {
    const file = rawSafetensors('{}', 0, 4096);
    const e = await rejection(openSafetensors(bytesSource(file, 'cut.safetensors')));
    expect(e.message).toMatch(/^cut\.safetensors: header length 4096 is larger than the file allows \(16 bytes in all\)/);
  });

  it('refuses an absurd header length without reading it', async () => {
    const file = rawSafetensors('{}', 0, 2 ** 40);
    const src = loggingSource(bytesSource(file, 'junk.safetensors'));
    const e = await rejection(openSafetensors(src));
    expect(e.message).toMatch(/header length 1099511627776 exceeds the 100000000-byte limit/);
    expect(src.reads).toEqual([[0, 8]]);
  });

  it('refuses a file truncated inside its data, naming the tensor that runs past the end', async () => {
    const file = await written([
      { name: 'a', dtype: 'F32', shape: [4], data: encodeFromF32('F32', values(4)) },
      { name: 'b', dtype: 'F32', shape: [4], data: encodeFromF32('F32', values(4)) },
    ]);
    const e = await rejection(openSafetensors(bytesSource(file.subarray(0, file.byteLength - 3), 'cut.safetensors')));
    expect(e.message).toMatch(/^cut\.safetensors: tensor "b": data_offsets \[16, 32\] run past the end of the data region \(29 bytes\)/);
    expect(e.where).toMatchObject({ file: 'cut.safetensors', tensor: 'b' });
  });

  it('refuses an invalid JSON header', async () => {
    const e = await rejection(openSafetensors(bytesSource(rawSafetensors('{"a": nope}', 0), 'bad.safetensors')));
    expect(e.message).toMatch(/^bad\.safetensors: header is not valid JSON/);
  });

  it('names the tensor when asked for one it does not have', async () => {
    const st = await openSafetensors(bytesSource(await written([]), 'empty.safetensors'));
    expect(st.tensors.size).toBe(0);
    const e = await rejection(st.readF32('lm_head.weight'));
    expect(e.message).toBe('empty.safetensors: no tensor "lm_head.weight"');
    expect(e.where).toEqual({ file: 'empty.safetensors', tensor: 'lm_head.weight' });
  });
});
