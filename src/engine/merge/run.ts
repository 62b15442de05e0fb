/**
 * A streaming merge: tensors are read, merged and written one at a time (writeCheckpoint pulls each lazily), so
 * memory holds a few tensors whatever the model size: the inputs of the tensor being merged, the inputs of the
 * next one (read ahead, so file reads overlap the arithmetic), and the output being written. SLERP of two
 * float tensors runs from stored bytes to output bytes in chunks (slerp-bytes.ts); other methods decode whole
 * tensors to float32. Output goes through a caller-given sink factory: files
 * in the Hugging Face layout (weights, config.json from the base, its tokenizer files, mergekit_config.yml).
 * Every refusal happens in planMerge before the first byte is written. Committing the output (renaming a temp
 * directory, publishing a cache entry) is the caller's job once this resolves; on failure or cancel the caller
 * discards it, and the inputs are only ever read.
 */
import type { ByteSink } from '../../io/bytes.ts';
import { AlloyError, throwIfAborted } from '../../common/errors.ts';
import { hasFile, readBytes, readJson, type ModelFiles } from '../../io/model-files.ts';
import { planShards, writeCheckpoint } from '../../io/safetensors/checkpoint.ts';
import { decodeToF32, encodeFromF32, type DType, type FloatDType } from '../../io/safetensors/dtypes.ts';
import { safetensorsOrder, type TensorToWrite } from '../../io/safetensors/writer.ts';
import { baseRefOf, referencedModels, planMerge, type MergePlan, type PlannedTensor, type PlanOptions } from './plan.ts';
import { NAMED_CHAT_TEMPLATES } from './chat-templates.ts';
import { buildOutputVocab, permuteEmbeddings, unionTokenizerFiles, type OutputVocab } from './vocab.ts';
import { toMergeYaml, type MergeConfig } from './config.ts';
import { num } from './methods/types.ts';
import { tensorRandom } from './methods/prng.ts';
import { openParent, type Parent, type ResolveModel } from './parents.ts';
import { decodeBytes, encodeMerged, isFloatDType, slerpBytes, SlerpScratch, type Allocate, type RawTensor } from './slerp-bytes.ts';

export interface MergeProgress {
  tensorsDone: number;
  tensorsTotal: number;
  /** tensor bytes read from the inputs so far (as stored) */
  bytesRead: number;
  bytesWritten: number;
  tensor: string;
}

/** Runs SLERP somewhere faster (the GPU) for tensors it accepts; the CPU handles the rest. */
export interface SlerpAccelerator {
  /** may be async: the CLI only opens the device (and learns whether it is a real GPU) when a tensor asks */
  accepts(elements: number): boolean | Promise<boolean>;
  slerp(t: number, base: Float32Array, other: Float32Array): Promise<Float32Array>;
}

export interface RunMergeOptions extends PlanOptions {
  config: MergeConfig;
  /** a plain model reference (no "+lora") → its files */
  resolveModel: ResolveModel;
  openSink: (fileName: string) => Promise<ByteSink>;
  /** mergekit's --out-shard-size, in bytes (default 5e9) */
  maxShardBytes?: number;
  /** DARE's seed (mergekit's --random-seed); default 0 */
  seed?: number;
  /** copy the base's tokenizer files (mergekit's --copy-tokenizer, on by default) */
  copyTokenizer?: boolean;
  /** text stored as mergekit_config.yml; default: the config exported by toMergeYaml */
  configYaml?: string;
  accelerator?: SlerpAccelerator;
  /**
   * Called with each input's bytes (as the checkpoint's readRaw returned them) once the merge is done with
   * them, so a source that hands out recycled buffers can take them back (the CLI's file reader does: fresh
   * 50 MB buffers per tensor cost more in page faults and GC than the arithmetic).
   */
  releaseInput?: (bytes: Uint8Array) => void;
  onProgress?: (p: MergeProgress) => void;
  signal?: AbortSignal;
}

export interface MergeResult {
  files: string[];
  plan: MergePlan;
  config: Record<string, unknown>;
}

/** Files mergekit's --copy-tokenizer copies (merge.py::_copy_tokenizer), when the base has them. */
export const TOKENIZER_FILES = [
  'tokenizer_config.json',
  'special_tokens_map.json',
  'tokenizer.json',
  'tokenizer.model',
  'added_tokens.json',
  'merges.txt',
  'vocab.json',
  'chat_template.jinja',
  'generation_config.json',
] as const;

export async function openParents(config: MergeConfig, resolve: ResolveModel): Promise<Map<string, Parent>> {
  const parents = new Map<string, Parent>();
  for (const ref of referencedModels(config)) parents.set(ref, await openParent(ref, resolve));
  return parents;
}

function roundTo(d: FloatDType | null, x: Float32Array): Float32Array {
  return d === null || d === 'F32' ? x : decodeToF32(d, encodeFromF32(d, x));
}

interface RawInput {
  dtype: DType;
  bytes: Uint8Array;
}

/** One input as stored (or, for a "+lora" parent, folded and as float32). */
async function readInput(parents: Map<string, Parent>, x: PlannedTensor['inputs'][number]): Promise<RawInput> {
  const ck = parents.get(x.ref)!.checkpoint;
  return { dtype: ck.info(x.tensor).dtype, bytes: await ck.readRaw(x.tensor) };
}

/**
 * One output tensor's bytes as written. Cast as mergekit does: inputs to the load dtype (as stored when no
 * dtype is set), the result to the load dtype and then to out_dtype.
 */
async function mergeToBytes(t: PlannedTensor, inputs: RawInput[], plan: MergePlan, seed: number, scratch: SlerpScratch, alloc: Allocate, accel?: SlerpAccelerator, vocab?: OutputVocab | null): Promise<Uint8Array> {
  if (!t.permute && plan.method.name === 'slerp' && inputs.length === 2 && t.baseIndex >= 0 && inputs.every((x) => isFloatDType(x.dtype))) {
    const a = inputs[t.baseIndex] as RawTensor;
    const b = inputs[1 - t.baseIndex] as RawTensor;
    const tv = num(t.params.t, 't');
    const n = (a.bytes.byteLength / (a.dtype === 'F32' ? 4 : 2)) | 0;
    if (accel && (await accel.accepts(n))) {
      const merged = await accel.slerp(tv, decodeBytes(a, t.loadDtype, scratch), decodeBytes(b, t.loadDtype, scratch));
      return encodeMerged(merged, t.loadDtype, t.outDtype, scratch, alloc);
    }
    return slerpBytes(tv, a, b, t.loadDtype, t.outDtype, scratch, alloc).bytes;
  }
  let tensors = inputs.map((x) => roundTo(t.loadDtype, decodeToF32(x.dtype, x.bytes)));
  if (t.permute) {
    tensors = permuteEmbeddings(vocab!, t.inputs.map((x, i) => ({ ref: x.ref, data: tensors[i]! })), plan.baseRef, t.shape[1]!, t.name);
  }
  const merged = plan.method.merge({
    name: t.name,
    tensors,
    baseIndex: t.baseIndex,
    params: t.params,
    modelParams: t.modelParams,
    random: tensorRandom(seed, t.name),
  });
  return encodeFromF32(t.outDtype, roundTo(t.loadDtype, merged));
}

export async function runMerge(opts: RunMergeOptions): Promise<MergeResult> {
  const { config, signal } = opts;
  throwIfAborted(signal, 'merge');
  const parents = await openParents(config, opts.resolveModel);
  const vocab = await buildOutputVocab(config, parents, baseRefOf(config));
  const plan = planMerge(config, parents, { ...opts, vocab });
  const base = parents.get(plan.baseRef)!;
  const seed = opts.seed ?? 0;
  const outConfig = outputConfig(plan, parents);
  // mergekit updates vocab_size to the built vocabulary (padding included)
  if (vocab) outConfig.vocab_size = vocab.size;

  let done = 0;
  let bytesRead = 0;
  let bytesWritten = 0;
  const total = plan.tensors.length;
  const scratch = new SlerpScratch();
  // Each output is built in one buffer reused from tensor to tensor (grown to the largest). That is safe because
  // writeCheckpoint awaits a tensor's sink.write, which copies or consumes the bytes (BlobSink, fileSink and the
  // cache's sink all do), before it asks for the next tensor.
  let arena = new ArrayBuffer(0);
  const alloc: Allocate = (n) => {
    if (arena.byteLength < n) arena = new ArrayBuffer(n);
    return new Uint8Array(arena, 0, n);
  };
  // Read-ahead: when a tensor's turn comes, the next one's inputs start loading, so the file reads (in Node,
  // on libuv's thread pool) run while this one is merged. One tensor ahead bounds the memory it costs.
  const pending = new Map<string, Promise<RawInput[]>>();
  const read = (t: PlannedTensor) => Promise.all(t.inputs.map((x) => readInput(parents, x)));
  const readAhead = (t: PlannedTensor) => {
    const p = read(t);
    p.catch(() => {}); // a failure surfaces when the tensor's turn comes; until then it is not unhandled
    pending.set(t.name, p);
  };
  const next = new Map<string, PlannedTensor>();
  const tensors: TensorToWrite[] = plan.tensors.map((t) => ({
    name: t.name,
    dtype: t.outDtype,
    shape: t.shape,
    data: async () => {
      throwIfAborted(signal, 'merge');
      const inputs = await (pending.get(t.name) ?? read(t));
      pending.delete(t.name);
      const after = next.get(t.name);
      if (after) readAhead(after);
      const bytes = await mergeToBytes(t, inputs, plan, seed, scratch, alloc, opts.accelerator, vocab);
      for (const x of inputs) opts.releaseInput?.(x.bytes);
      for (const x of t.inputs) {
        const info = parents.get(x.ref)!.stored.tensors.get(x.tensor)?.info;
        if (info) bytesRead += info.end - info.begin;
      }
      bytesWritten += bytes.byteLength;
      done++;
      opts.onProgress?.({ tensorsDone: done, tensorsTotal: total, bytesRead, bytesWritten, tensor: t.name });
      return bytes;
    },
  }));
  // The order writeCheckpoint asks for the tensors in: its shards, each in safetensors' order.
  const byName = new Map(plan.tensors.map((t) => [t.name, t]));
  const order = planShards(tensors, opts.maxShardBytes ?? 5e9).flatMap((shard) => safetensorsOrder(shard));
  for (let i = 0; i + 1 < order.length; i++) next.set(order[i]!.name, byName.get(order[i + 1]!.name)!);
  const written = await writeCheckpoint(tensors, {
    openSink: opts.openSink,
    ...(opts.maxShardBytes !== undefined ? { maxShardBytes: opts.maxShardBytes } : {}),
    metadata: { mergekit_version: '0.1.4' },
  });
  throwIfAborted(signal, 'merge');

  const files = [...written.files];
  const put = async (name: string, data: Uint8Array | string) => {
    const sink = await opts.openSink(name);
    await sink.write(typeof data === 'string' ? new TextEncoder().encode(data) : data);
    await sink.close();
    files.push(name);
  };
  await put('config.json', JSON.stringify(outConfig, null, 2) + '\n');
  if (opts.copyTokenizer !== false) {
    // tokenizer_source names the model whose tokenizer the output gets (the base's, plus new tokens, for union)
    const from = vocab ? parents.get(vocab.filesFrom)! : base;
    const union = vocab && vocab.added.length > 0 ? await unionFiles(vocab, from.files) : null;
    for (const f of TOKENIZER_FILES) {
      if (!hasFile(from.files, f)) continue;
      throwIfAborted(signal, 'merge');
      let bytes: Uint8Array;
      if (f === 'tokenizer_config.json') bytes = await tokenizerConfig(config, from, parents, union?.tokenizerConfig ?? undefined);
      else if (f === 'tokenizer.json' && union) bytes = new TextEncoder().encode(JSON.stringify(union.tokenizerJson, null, 2) + '\n');
      else bytes = await readBytes(from.files, f);
      await put(f, bytes);
    }
  }
  const yaml = opts.configYaml ?? toMergeYaml(config);
  await put('mergekit_config.yml', yaml);
  await put('README.md', modelCard(config, yaml));
  return { files, plan, config: outConfig };
}

function outputConfig(plan: MergePlan, parents: Map<string, Parent>): Record<string, unknown> {
  // mergekit: config.json from base_model, layer count = sum of slice lengths, torch_dtype = out_dtype or dtype.
  const out: Record<string, unknown> = structuredClone(parents.get(plan.baseRef)!.configJson);
  out.num_hidden_layers = plan.numLayers;
  if (plan.torchDtype) {
    if ('dtype' in out && !('torch_dtype' in out)) out.dtype = plan.torchDtype; // transformers v5 spelling
    else out.torch_dtype = plan.torchDtype;
  }
  return out;
}

async function unionFiles(vocab: OutputVocab, files: ModelFiles) {
  const json = (await readJson(files, 'tokenizer.json')) as Record<string, unknown>;
  const cfg = hasFile(files, 'tokenizer_config.json') ? ((await readJson(files, 'tokenizer_config.json')) as Record<string, unknown>) : null;
  return unionTokenizerFiles(vocab, json, cfg);
}

/** The source's tokenizer_config.json (or `edited`), with chat_template replaced when the merge config sets one. */
async function tokenizerConfig(config: MergeConfig, base: Parent, parents: Map<string, Parent>, edited?: Record<string, unknown>): Promise<Uint8Array> {
  const wanted = config.chatTemplate;
  const encode = (o: Record<string, unknown>) => new TextEncoder().encode(JSON.stringify(o, null, 2) + '\n');
  if (!wanted) return edited ? encode(edited) : await readBytes(base.files, 'tokenizer_config.json');
  const json = edited ?? ((await readJson(base.files, 'tokenizer_config.json')) as Record<string, unknown>);
  if (wanted === 'auto') {
    // mergekit picks the template most models share
    const counts = new Map<string, number>();
    for (const p of parents.values()) {
      const t = await chatTemplateOf(p.files);
      if (t) counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    const best = [...counts].sort((a, b) => b[1] - a[1])[0];
    if (!best) return encode(json);
    json.chat_template = best[0];
  } else if (wanted.includes('{{') || wanted.includes('{%')) {
    json.chat_template = wanted;
  } else if (NAMED_CHAT_TEMPLATES[wanted]) {
    json.chat_template = NAMED_CHAT_TEMPLATES[wanted];
  } else {
    throw new AlloyError(`chat_template "${wanted}": give "auto", one of ${Object.keys(NAMED_CHAT_TEMPLATES).join(', ')}, or the Jinja template itself`, { field: 'chat_template' });
  }
  return encode(json);
}

async function chatTemplateOf(files: ModelFiles): Promise<string | undefined> {
  if (!hasFile(files, 'tokenizer_config.json')) return undefined;
  const t = ((await readJson(files, 'tokenizer_config.json')) as Record<string, unknown>).chat_template;
  return typeof t === 'string' ? t : undefined;
}

function modelCard(config: MergeConfig, yaml: string): string {
  return `---\nlibrary_name: transformers\ntags:\n- merge\n- mergekit\n- alloy\n---\n# Merged model\n\nMade with Alloy's merge engine (mergekit semantics), method \`${config.mergeMethod}\`${config.baseModel ? `, base \`${config.baseModel}\`` : ''}.\n\n## Configuration\n\n\`\`\`yaml\n${yaml.trimEnd()}\n\`\`\`\n`;
}
