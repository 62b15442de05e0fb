import { describe, expect, it } from 'vitest';
import { AlloyError } from '../../../src/common/errors.ts';
import { memoryModelFiles } from '../../../src/io/model-files.ts';
import { openCheckpoint, planShards, shardName, writeCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { encodeFromF32 } from '../../../src/io/safetensors/dtypes.ts';
import { writeSafetensors, type TensorToWrite } from '../../../src/io/safetensors/writer.ts';
import { MemorySink } from './memory-sink.ts';

const f32 = (name: string, n: number, start = 0): TensorToWrite => ({
  name,
  dtype: 'F32',
  shape: [n],
  data: encodeFromF32('F32', Float32Array.from({ length: n }, (_, i) => start + i)),
});

/** Writes a checkpoint into memory, returning the repo's files. */
async function writeToMemory(
  tensors: TensorToWrite[],
  maxShardBytes?: number,
): Promise<{ record: Record<string, Uint8Array>; files: string[]; index?: object }> {
  const sinks = new Map<string, MemorySink>();
  const { files, index } = await writeCheckpoint(tensors, {
    ...(maxShardBytes !== undefined ? { maxShardBytes } : {}),
    openSink: async (name) => {
      const s = new MemorySink();
      sinks.set(name, s);
      return s;
    },
  });
  const record: Record<string, Uint8Array> = {};
  for (const [name, s] of sinks) {
    expect(s.closed, name).toBe(true);
    record[name] = s.bytes();
  }
  return { record, files, ...(index ? { index } : {}) };
}

async function single(tensors: TensorToWrite[]): Promise<Uint8Array> {
  const s = new MemorySink();
  await writeSafetensors(s, tensors);
  return s.bytes();
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

const CONFIG = new TextEncoder().encode('{}');

describe('writeCheckpoint', () => {
  it('splits by mergekit rule: a new shard when current + tensor bytes > max', () => {
    // 40, 40, 40, 100, 8 bytes with max 100: [40,40] | [40] (40+100 > 100) | [100] | [8]
    const ts = [f32('a', 10), f32('b', 10), f32('c', 10), f32('d', 25), f32('e', 2)];
    expect(planShards(ts, 100).map((s) => s.map((t) => t.name))).toEqual([['a', 'b'], ['c'], ['d'], ['e']]);
    expect(planShards(ts, 1e9).length).toBe(1);
    expect(planShards([], 100)).toEqual([[]]);
    expect(shardName(2, 13)).toBe('model-00002-of-00013.safetensors');
  });

  it('writes one shard as model.safetensors without an index', async () => {
    const { files, index, record } = await writeToMemory([f32('a', 4), f32('b', 4)]);
    expect(files).toEqual(['model.safetensors']);
    expect(index).toBeUndefined();
    expect(Object.keys(record)).toEqual(['model.safetensors']);
  });

  it('writes several shards with an index, and reads them back through ModelFiles', async () => {
    const tensors = [f32('model.embed_tokens.weight', 30), f32('model.layers.0.w', 20, 100), f32('model.norm.weight', 8, 7), f32('lm_head.weight', 30, -5)];
    const { files, index, record } = await writeToMemory(tensors, 128);
    expect(files).toEqual([
      'model-00001-of-00003.safetensors',
      'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors',
      'model.safetensors.index.json',
    ]);
    const expectedIndex = {
      metadata: { total_size: (30 + 20 + 8 + 30) * 4 },
      weight_map: {
        'model.embed_tokens.weight': 'model-00001-of-00003.safetensors',
        'model.layers.0.w': 'model-00002-of-00003.safetensors',
        'model.norm.weight': 'model-00002-of-00003.safetensors',
        'lm_head.weight': 'model-00003-of-00003.safetensors',
      },
    };
    expect(index).toEqual(expectedIndex);
    expect(JSON.parse(new TextDecoder().decode(record['model.safetensors.index.json']))).toEqual(expectedIndex);

    const ckpt = await openCheckpoint(memoryModelFiles({ 'config.json': CONFIG, ...record }, 'mem/sharded'));
    expect(ckpt.files.map((f) => f.name).sort()).toEqual(files.slice(0, 3));
    expect(ckpt.names()).toEqual(Object.keys(expectedIndex.weight_map));
    expect(ckpt.info('model.norm.weight')).toMatchObject({ dtype: 'F32', shape: [8] });
    expect(ckpt.tensors.get('lm_head.weight')!.file.name).toBe('model-00003-of-00003.safetensors');
    for (const t of tensors) expect(await ckpt.readRaw(t.name)).toEqual(t.data);
    expect([...(await ckpt.readF32('model.norm.weight'))]).toEqual([7, 8, 9, 10, 11, 12, 13, 14]);
    const e = await rejection(ckpt.readF32('nope'));
    expect(e.where.tensor).toBe('nope');
  });

  it('produces lazy tensors only when their shard is written', async () => {
    const made: string[] = [];
    const lazy = (name: string): TensorToWrite => ({
      name,
      dtype: 'U8',
      shape: [4],
      data: async () => (made.push(name), new Uint8Array(4)),
    });
    const opened: string[] = [];
    await writeCheckpoint([lazy('a'), lazy('b'), lazy('c')], {
      maxShardBytes: 4,
      openSink: async (n) => (opened.push(`${n} after ${made.length}`), new MemorySink()),
    });
    expect(opened).toEqual([
      'model-00001-of-00003.safetensors after 0',
      'model-00002-of-00003.safetensors after 1',
      'model-00003-of-00003.safetensors after 2',
      'model.safetensors.index.json after 3',
    ]);
  });
});

describe('openCheckpoint', () => {
  it('reads model.safetensors', async () => {
    const m = memoryModelFiles({ 'config.json': CONFIG, 'model.safetensors': await single([f32('w', 3)]) }, 'mem/single');
    const ckpt = await openCheckpoint(m);
    expect(ckpt.names()).toEqual(['w']);
    expect([...(await ckpt.readF32('w'))]).toEqual([0, 1, 2]);
  });

  it('falls back to a single safetensors file with another name', async () => {
    const m = memoryModelFiles({ 'config.json': CONFIG, 'weights.safetensors': await single([f32('w', 2)]) }, 'mem/other');
    expect((await openCheckpoint(m)).names()).toEqual(['w']);
  });

  it('names the index and the missing shard', async () => {
    const { record } = await writeToMemory([f32('a', 10), f32('b', 10)], 40);
    delete record['model-00002-of-00002.safetensors'];
    const e = await rejection(openCheckpoint(memoryModelFiles(record, 'org/model@main')));
    expect(e.message).toBe(
      'org/model@main: model.safetensors.index.json names shard model-00002-of-00002.safetensors ' +
        '(for tensor "b"), but org/model@main has no such file',
    );
    expect(e.where).toEqual({ file: 'model-00002-of-00002.safetensors', tensor: 'b' });
  });

  it('refuses an index that places a tensor in a shard without it', async () => {
    const { record } = await writeToMemory([f32('a', 10), f32('b', 10)], 40);
    const index = { metadata: { total_size: 80 }, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00001-of-00002.safetensors' } };
    record['model.safetensors.index.json'] = new TextEncoder().encode(JSON.stringify(index));
    const e = await rejection(openCheckpoint(memoryModelFiles(record, 'm')));
    expect(e.message).toBe(
      'm: model.safetensors.index.json says tensor "b" is in model-00001-of-00002.safetensors, but that shard has no such tensor',
    );
  });

  it('refuses an index without a weight_map', async () => {
    const record = { 'model.safetensors.index.json': new TextEncoder().encode('{"metadata":{}}') };
    expect((await rejection(openCheckpoint(memoryModelFiles(record, 'm')))).message).toMatch(/has no "weight_map" object/);
  });

  it('passes a bad shard header through with the shard named', async () => {
    const { record } = await writeToMemory([f32('a', 10), f32('b', 10)], 40);
    const shard = record['model-00002-of-00002.safetensors']!;
    record['model-00002-of-00002.safetensors'] = shard.subarray(0, shard.byteLength - 1);
    const e = await rejection(openCheckpoint(memoryModelFiles(record, 'm')));
    expect(e.message).toMatch(/^model-00002-of-00002\.safetensors: tensor "b": data_offsets \[0, 40\] run past the end/);
  });

  it('refuses pickle-only folders with the reason and the conversion', async () => {
    const m = memoryModelFiles({ 'config.json': CONFIG, 'pytorch_model.bin': new Uint8Array(4) }, 'org/old');
    const e = await rejection(openCheckpoint(m));
    expect(e.message).toMatch(/^org\/old has only PyTorch pickle weights \(pytorch_model\.bin\)/);
    expect(e.message).toMatch(/arbitrary code/);
    expect(e.message).toMatch(/only loads safetensors/);
    expect(e.message).toMatch(/save_pretrained\(dir, safe_serialization=True\)/);
    expect(e.where.file).toBe('pytorch_model.bin');
  });

  it('refuses a folder without weights, or with several unindexed files', async () => {
    expect((await rejection(openCheckpoint(memoryModelFiles({ 'config.json': CONFIG }, 'm')))).message).toBe(
      'm has no weights: neither model.safetensors nor model.safetensors.index.json',
    );
    const two = memoryModelFiles({ 'a.safetensors': await single([]), 'b.safetensors': await single([]) }, 'm');
    expect((await rejection(openCheckpoint(two))).message).toMatch(/several safetensors files \(a\.safetensors, b\.safetensors\)/);
  });
});

describe('memoryModelFiles', () => {
  it('lists sizes and names a missing file', async () => {
    const m = memoryModelFiles({ 'config.json': CONFIG }, 'mem');
    expect(m.label).toBe('mem');
    expect(m.files).toEqual([{ path: 'config.json', size: 2 }]);
    expect((await m.open('config.json')).size).toBe(2);
    await expect(m.open('tokenizer.json')).rejects.toThrow('mem: missing tokenizer.json');
  });
});
