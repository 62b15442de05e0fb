import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedTensorShapes, parseModelConfig } from '../../src/io/config.ts';
import { fileSource } from '../../src/io/node/fs.ts';
import type { ModelFiles } from '../../src/io/model-files.ts';
import { openCheckpoint } from '../../src/io/safetensors/checkpoint.ts';
import { encodeFromF32 } from '../../src/io/safetensors/dtypes.ts';
import { loadTokenizer } from '../../src/io/tokenizer.ts';
import { listFiles } from '../../scripts/fixtures/hub-layout.ts';
import { REPOS, REVISION, ensureFixtures, repoId, writeFixtures } from '../../scripts/fixtures/index.ts';

let rootA: string;
let rootB: string;
let firstRunMs = 0;

beforeAll(async () => {
  rootA = await mkdtemp(join(tmpdir(), 'alloy-fixtures-a-'));
  rootB = await mkdtemp(join(tmpdir(), 'alloy-fixtures-b-'));
  const t0 = performance.now();
  await writeFixtures(rootA);
  firstRunMs = performance.now() - t0;
  await writeFixtures(rootB);
}, 60_000);

afterAll(async () => {
  await rm(rootA, { recursive: true, force: true });
  await rm(rootB, { recursive: true, force: true });
});

const filesDir = (root: string, name: string) => join(root, 'alloy-fixtures', name, 'resolve', REVISION);
const readJsonFile = async (path: string): Promise<any> => JSON.parse(await readFile(path, 'utf8'));

interface Header {
  [name: string]: { dtype: string; shape: number[]; data_offsets: [number, number] };
}

/** Parsed independently of the project's reader, so a writer/reader pair that agree on a mistake is caught. */
async function safetensorsHeader(path: string): Promise<{ header: Header; metadata: unknown; dataStart: number; bytes: Buffer }> {
  const bytes = await readFile(path);
  const n = Number(bytes.readBigUInt64LE(0));
  expect(n % 8).toBe(0);
  const json = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
  const { __metadata__: metadata, ...header } = json;
  return { header, metadata, dataStart: 8 + n, bytes };
}

async function tensorsOf(dir: string): Promise<Map<string, { dtype: string; shape: number[]; data: Buffer; shard: string }>> {
  const out = new Map<string, { dtype: string; shape: number[]; data: Buffer; shard: string }>();
  const files = await listFiles(dir);
  for (const f of files.filter((p) => p.endsWith('.safetensors'))) {
    const { header, metadata, dataStart, bytes } = await safetensorsHeader(join(dir, f));
    expect(metadata).toEqual({ format: 'pt' });
    for (const [name, t] of Object.entries(header)) {
      expect(out.has(name), `${name} in two shards`).toBe(false);
      const [b, e] = t.data_offsets;
      out.set(name, { dtype: t.dtype, shape: t.shape, data: bytes.subarray(dataStart + b, dataStart + e), shard: f });
    }
  }
  return out;
}

function dirModel(dir: string, paths: string[]): ModelFiles {
  return {
    label: dir,
    files: paths.map((path) => ({ path, size: 0 })),
    async open(path) {
      return fileSource(join(dir, path));
    },
  };
}

describe('fixture generation', () => {
  it('is deterministic: two runs give byte-identical trees', async () => {
    const a = await listFiles(rootA);
    const b = await listFiles(rootB);
    expect(a).toEqual(b);
    expect(a.some((p) => p.includes('.tmp-'))).toBe(false);
    for (const p of a) {
      expect((await readFile(join(rootA, p))).equals(await readFile(join(rootB, p))), p).toBe(true);
    }
  });

  it('is fast', () => {
    // the target is < 2 s; the bound leaves room for a loaded shared machine
    expect(firstRunMs).toBeLessThan(10_000);
  });

  it('lays out every repo like the hub, with a listing that matches the files', async () => {
    for (const spec of REPOS) {
      const id = repoId(spec);
      const dir = filesDir(rootA, spec.name);
      const listing = await readJsonFile(join(rootA, 'api', 'models', id, 'revision', REVISION));
      expect(listing.id).toBe(id);
      expect(listing.sha).toMatch(/^[0-9a-f]{40}$/);
      const onDisk = await listFiles(dir);
      expect(listing.siblings.map((s: { rfilename: string }) => s.rfilename)).toEqual(onDisk);
      for (const s of listing.siblings as { rfilename: string; size: number; lfs?: { sha256: string; size: number } }[]) {
        const bytes = await readFile(join(dir, s.rfilename));
        expect(s.size, s.rfilename).toBe(bytes.byteLength);
        if (/\.(safetensors|bin)$/.test(s.rfilename)) {
          expect(s.lfs).toEqual({ sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.byteLength });
        } else {
          expect(s.lfs).toBeUndefined();
        }
      }
    }
  });

  it('gives every repo a distinct commit id', async () => {
    const shas = await Promise.all(
      REPOS.map(async (s) => (await readJsonFile(join(rootA, 'api', 'models', repoId(s), 'revision', REVISION))).sha),
    );
    expect(new Set(shas).size).toBe(REPOS.length);
  });

  for (const spec of REPOS.filter((s) => !s.pickleOnly)) {
    it(`${spec.name}: tensors are exactly those its config.json implies`, async () => {
      const dir = filesDir(rootA, spec.name);
      const config = await readJsonFile(join(dir, 'config.json'));
      const expected = expectedTensorShapes(parseModelConfig(config));
      const tensors = await tensorsOf(dir);
      expect([...tensors.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const [name, t] of tensors) {
        expect(t.shape, name).toEqual(expected.get(name));
        expect(t.dtype, name).toBe(spec.dtype);
        expect(t.data.byteLength).toBe(t.shape.reduce((a, b) => a * b, 1) * (spec.dtype === 'F32' ? 4 : 2));
      }
      expect(config.vocab_size).toBeLessThanOrEqual(512);
      // 64, and 96 for tiny-qwen3 (4 heads of head_dim 32, so that head_dim ≠ hidden / heads)
      expect(config.hidden_size).toBeLessThanOrEqual(96);
      expect(config.num_hidden_layers).toBe(2);
      expect(config.max_position_embeddings).toBe(128);
    });

    it(`${spec.name}: tokenizer files load, with the config's vocabulary and special ids`, async () => {
      const dir = filesDir(rootA, spec.name);
      const config = await readJsonFile(join(dir, 'config.json'));
      const tok = await loadTokenizer(dirModel(dir, await listFiles(dir)));
      expect(tok.vocabSize).toBe(config.vocab_size);
      // Qwen3's tokenizer has no bos_token (its config's bos_token_id names <|endoftext|>), as the real one
      expect(tok.bosTokenId).toBe(spec.tokenizer === 'qwen3' ? null : config.bos_token_id);
      expect(tok.eosTokenIds).toEqual([config.eos_token_id].flat());
      expect(tok.hasChatTemplate).toBe(true);
    });
  }

  it('tiny-llama has GQA and tied embeddings; the untied variant has lm_head; qwen2 has q/k/v biases', async () => {
    const llama = await tensorsOf(filesDir(rootA, 'tiny-llama'));
    expect(llama.get('model.layers.0.self_attn.q_proj.weight')!.shape).toEqual([64, 64]);
    expect(llama.get('model.layers.0.self_attn.k_proj.weight')!.shape).toEqual([32, 64]);
    expect(llama.has('lm_head.weight')).toBe(false);
    const untied = await tensorsOf(filesDir(rootA, 'tiny-llama-untied'));
    expect(untied.get('lm_head.weight')!.shape).toEqual([384, 64]);
    const qwen = await tensorsOf(filesDir(rootA, 'tiny-qwen2'));
    for (const p of ['q', 'k', 'v']) expect(qwen.has(`model.layers.1.self_attn.${p}_proj.bias`)).toBe(true);
    expect(qwen.has('model.layers.1.self_attn.o_proj.bias')).toBe(false);
  });

  it('tiny-llama-bf16 holds tiny-llama rounded to bfloat16, and -sharded holds it exactly', async () => {
    const f32 = await tensorsOf(filesDir(rootA, 'tiny-llama'));
    const bf16 = await tensorsOf(filesDir(rootA, 'tiny-llama-bf16'));
    const sharded = await tensorsOf(filesDir(rootA, 'tiny-llama-sharded'));
    for (const [name, t] of f32) {
      const values = new Float32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
      expect(Buffer.from(encodeFromF32('BF16', values)).equals(bf16.get(name)!.data), name).toBe(true);
      expect(sharded.get(name)!.data.equals(t.data), name).toBe(true);
    }
  });

  it('tiny-llama-sharded has ≥ 3 shards and an index that maps every tensor to its shard', async () => {
    const dir = filesDir(rootA, 'tiny-llama-sharded');
    const files = await listFiles(dir);
    const shards = files.filter((f) => f.endsWith('.safetensors'));
    expect(shards.length).toBeGreaterThanOrEqual(3);
    for (const [i, s] of shards.entries()) {
      expect(s).toBe(`model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`);
    }
    expect(files).not.toContain('model.safetensors');
    const index = await readJsonFile(join(dir, 'model.safetensors.index.json'));
    const tensors = await tensorsOf(dir);
    expect(Object.keys(index.weight_map).sort()).toEqual([...tensors.keys()].sort());
    for (const [name, t] of tensors) expect(index.weight_map[name]).toBe(t.shard);
    const total = [...tensors.values()].reduce((a, t) => a + t.data.byteLength, 0);
    expect(index.metadata.total_size).toBe(total);
  });

  it('weights are in sensible ranges (norms near 1, embeddings spread, nothing degenerate)', async () => {
    const tensors = await tensorsOf(filesDir(rootA, 'tiny-llama'));
    const stats = (name: string) => {
      const d = tensors.get(name)!.data;
      const v = new Float32Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength));
      const mean = v.reduce((a, x) => a + x, 0) / v.length;
      const std = Math.sqrt(v.reduce((a, x) => a + (x - mean) ** 2, 0) / v.length);
      return { mean, std };
    };
    const norm = stats('model.norm.weight');
    expect(norm.mean).toBeGreaterThan(0.95);
    expect(norm.mean).toBeLessThan(1.05);
    expect(norm.std).toBeGreaterThan(0.01);
    const emb = stats('model.embed_tokens.weight');
    expect(Math.abs(emb.mean)).toBeLessThan(0.01);
    expect(emb.std).toBeGreaterThan(0.09);
    expect(emb.std).toBeLessThan(0.11);
    // independent streams: no two tensors of one shape share values
    const q0 = tensors.get('model.layers.0.self_attn.q_proj.weight')!.data;
    expect(q0.equals(tensors.get('model.layers.0.self_attn.o_proj.weight')!.data)).toBe(false);
  });

  it('the project reader opens every repo, and the pickle one is refused', async () => {
    const ref = await openCheckpoint(dirModel(filesDir(rootA, 'tiny-llama'), await listFiles(filesDir(rootA, 'tiny-llama'))));
    for (const spec of REPOS) {
      const dir = filesDir(rootA, spec.name);
      const open = openCheckpoint(dirModel(dir, await listFiles(dir)));
      if (spec.pickleOnly) {
        await expect(open).rejects.toThrow(/pickle/i);
        continue;
      }
      const ckpt = await open;
      if (spec.seed === 'tiny-llama') {
        const name = 'model.layers.1.mlp.down_proj.weight';
        const got = await ckpt.readF32(name);
        const want = await ref.readF32(name);
        const tol = spec.dtype === 'BF16' ? 1e-2 : 0;
        for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(tol * Math.abs(want[i]!));
      }
    }
  });

  it('tiny-llama-pickle has only a pickle checkpoint', async () => {
    const files = await listFiles(filesDir(rootA, 'tiny-llama-pickle'));
    expect(files).toContain('pytorch_model.bin');
    expect(files).toContain('config.json');
    expect(files.some((f) => f.endsWith('.safetensors'))).toBe(false);
  });
});

describe('ensureFixtures', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'alloy-fixtures-e-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes when missing, skips when up to date, rewrites when a file is gone or changed', async () => {
    expect(await ensureFixtures(root)).toEqual({ written: true });
    expect(await ensureFixtures(root)).toEqual({ written: false });

    const shard = join(filesDir(root, 'tiny-llama'), 'model.safetensors');
    const original = await readFile(shard);
    await rm(shard);
    expect(await ensureFixtures(root)).toEqual({ written: true });
    expect((await readFile(shard)).equals(original)).toBe(true);

    await writeFile(shard, original.subarray(0, 100));
    expect(await ensureFixtures(root)).toEqual({ written: true });
    expect((await stat(shard)).size).toBe(original.byteLength);
    expect(await ensureFixtures(root)).toEqual({ written: false });
  });

  it('agrees with a fresh writeFixtures byte for byte', async () => {
    const files = await listFiles(root);
    expect(files).toEqual(await listFiles(rootA));
    for (const p of files) expect((await readFile(join(root, p))).equals(await readFile(join(rootA, p))), p).toBe(true);
  });
});
