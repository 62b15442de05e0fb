// Tensors stored as ggml blocks in a checkpoint (io/safetensors/checkpoint.ts, "ggml blocks"): shown as their
// logical F32 [rows, cols] with ggml's de-quantised values, the blocks available to the GPU loader, and a marking
// that does not fit the stored tensor refused naming the file and the tensor.
import { describe, expect, it } from 'vitest';
import { BlobSink } from '../../../src/io/bytes.ts';
import { memoryModelFiles } from '../../../src/io/model-files.ts';
import { GGML_TYPES_KEY, ggmlTypesOf, openCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { writeSafetensors, type TensorToWrite } from '../../../src/io/safetensors/writer.ts';
import { dequantize } from '../../../src/io/gguf/dequant.ts';
import { quantizeQ4_K } from '../../../src/io/gguf/quantize.ts';

const values = Float32Array.from({ length: 2 * 256 }, (_, i) => Math.sin(i * 0.37) * 0.5);
const blocks = quantizeQ4_K(values);

async function folder(tensors: TensorToWrite[], types: unknown) {
  const sink = new BlobSink();
  await writeSafetensors(sink, tensors, { [GGML_TYPES_KEY]: typeof types === 'string' ? types : JSON.stringify(types) });
  return memoryModelFiles({ 'model.safetensors': new Uint8Array(await sink.blob().arrayBuffer()) });
}

describe('ggml blocks in a checkpoint', () => {
  it('reads as the logical F32 tensor with ggml values; readBlocks gives the blocks', async () => {
    const norm = new Float32Array([1, 2, 3]);
    const ck = await openCheckpoint(
      await folder(
        [
          { name: 'w', dtype: 'U8', shape: [2, 144], data: blocks },
          { name: 'n', dtype: 'F32', shape: [3], data: new Uint8Array(norm.buffer) },
        ],
        { w: 'Q4_K' },
      ),
    );
    expect(ck.info('w')).toMatchObject({ dtype: 'F32', shape: [2, 256], ggmlType: 'Q4_K' });
    expect(ck.info('w').end - ck.info('w').begin).toBe(288);
    const want = dequantize('Q4_K', blocks);
    expect(await ck.readF32('w')).toEqual(want);
    expect(new Float32Array((await ck.readRaw('w')).slice().buffer)).toEqual(want);
    expect(await ck.readBlocks!('w')).toEqual(blocks);
    expect(ck.info('n').ggmlType).toBeUndefined();
    expect(await ck.readF32('n')).toEqual(norm);
    await expect(ck.readBlocks!('n')).rejects.toThrow('tensor "n" is F32, not ggml blocks');
    expect(ggmlTypesOf(ck)).toEqual({ w: 'Q4_K' });
  });

  it('refuses a marking that does not fit, naming the file and the tensor', async () => {
    const cases: Array<[TensorToWrite, unknown, RegExp]> = [
      [{ name: 'w', dtype: 'U8', shape: [2, 144], data: blocks }, { w: 'IQ2_XXS' }, /model\.safetensors: tensor "w" is marked as ggml type IQ2_XXS, which Alloy cannot read/],
      [{ name: 'w', dtype: 'U8', shape: [4, 72], data: blocks }, { w: 'Q4_K' }, /tensor "w" is marked as Q4_K blocks but is U8 \[4, 72\], not U8 \[rows, whole 144-byte blocks\]/],
      [{ name: 'w', dtype: 'F32', shape: [72], data: blocks }, { w: 'Q4_K' }, /tensor "w" is marked as Q4_K blocks but is F32 \[72\]/],
      [{ name: 'w', dtype: 'U8', shape: [2, 144], data: blocks }, '{not json', /metadata "alloy\.ggml_types" is not JSON/],
    ];
    for (const [t, types, message] of cases) await expect(openCheckpoint(await folder([t], types))).rejects.toThrow(message);
  });
});
