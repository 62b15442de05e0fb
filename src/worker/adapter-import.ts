// Importing a PEFT LoRA adapter into the studio: the files the user brought (a folder, the two files, or a .zip as
// the Export panel writes it) → a ModelFiles (uploadedAdapterFiles), checked against the cached base model it is
// meant for (validateAdapter), then stored like a trained adapter (TrainHost.importAdapter: a checkpoint blob
// under a run record). Everything here is pure and runs in Node, so the rules are unit-tested.
//
// The check is stricter than the CLI's `--adapter` (io/peft.ts + lora/fold.ts): what PEFT would apply but a fold
// would silently drop (modules_to_save copies, LoRA biases, embedding LoRA) is refused, so an imported adapter means
// exactly what PEFT means by it (per-module ranks or alphas io/peft.ts refuses for both). What is stored are the
// file's own tensor bytes, so the adapter folds into the same weights, and gives the same logits, as
// `alloy logits --adapter`.
import { blobSource } from '../io/bytes.ts';
import type { ModelConfig } from '../io/config.ts';
import { AlloyError } from '../common/errors.ts';
import { readText, type FileEntry, type ModelFiles } from '../io/model-files.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, readPeftAdapter, type LoraConfig } from '../io/peft.ts';
import type { Checkpoint } from '../io/safetensors/checkpoint.ts';
import type { TensorToWrite } from '../io/safetensors/writer.ts';
import { unzip } from '../io/zip.ts';
import { LORA_TARGETS, modulePath, type LoraTarget } from '../engine/lora/targets.ts';

/** One file as the page sends it: its path inside what was picked or dropped (folder prefix kept or not). */
export interface AdapterUpload {
  path: string;
  blob: Blob;
}

const PICKLE = 'adapter_model.bin';
const KNOWN = new Set([ADAPTER_CONFIG, ADAPTER_WEIGHTS, PICKLE]);
const base = (p: string) => p.slice(p.lastIndexOf('/') + 1);

/**
 * The adapter's files out of an upload: a .zip is opened (stored or deflated entries); files are matched by name
 * wherever they sit, so a folder, its parent or the two loose files all work, but two adapters in one upload (e.g.
 * a trainer's checkpoint-100/ and checkpoint-200/) are refused rather than guessed between.
 */
export async function uploadedAdapterFiles(name: string, uploads: readonly AdapterUpload[]): Promise<ModelFiles> {
  if (uploads.length === 0) throw new AlloyError('no files: pick an adapter folder, its two files, or a .zip of them');
  let files: AdapterUpload[] = [...uploads];
  const zips = files.filter((f) => f.path.toLowerCase().endsWith('.zip'));
  if (zips.length > 0) {
    if (files.length > 1) throw new AlloyError(`${zips[0]!.path} is a zip: import it on its own, without other files`, { file: zips[0]!.path });
    const zip = zips[0]!;
    const entries = await unzip(new Uint8Array(await zip.blob.arrayBuffer())).catch((e: unknown) => {
      throw new AlloyError(`${zip.path}: ${(e as Error).message}`, { file: zip.path }, { cause: e });
    });
    files = entries.map((e) => ({ path: e.name, blob: new Blob([e.data as Uint8Array<ArrayBuffer>]) }));
  }
  const byName = new Map<string, AdapterUpload[]>();
  for (const f of files) {
    const n = base(f.path);
    if (KNOWN.has(n)) byName.set(n, [...(byName.get(n) ?? []), f]);
  }
  for (const [n, list] of byName) {
    if (list.length > 1) {
      throw new AlloyError(`${name} holds more than one ${n} (${list.map((f) => f.path).join(', ')}): pick the folder of one adapter`, { file: n });
    }
  }
  if (!byName.has(ADAPTER_CONFIG) && !byName.has(ADAPTER_WEIGHTS)) {
    const names = new Set(files.map((f) => base(f.path)));
    if (names.has('config.json') && [...names].some((n) => n.endsWith('.safetensors'))) {
      throw new AlloyError(`${name} is a model folder (config.json + weights), not a PEFT adapter: load it in the Models panel`, { file: ADAPTER_CONFIG });
    }
  }
  const picked = new Map([...byName].map(([n, [f]]) => [n, f!.blob]));
  const entries: FileEntry[] = [...picked].map(([path, blob]) => ({ path, size: blob.size }));
  return {
    label: name,
    files: entries,
    async open(path) {
      const blob = picked.get(path);
      if (!blob) throw new AlloyError(`${name}: missing ${path}`, { file: path });
      return blobSource(blob, path);
    },
  };
}

/** The base model an adapter is checked against. */
export interface AdapterBase {
  label: string;
  /** the model's repo (PEFT's base_model_name_or_path for it) */
  repo: string;
  config: ModelConfig;
  checkpoint: Checkpoint;
}

export interface ValidatedAdapter {
  config: LoraConfig;
  /** adapter_config.json as given (exported again as is) */
  configText: string;
  /** the config's base_model_name_or_path */
  baseModelName: string | null;
  /** projections adapted, in LORA_TARGETS order */
  targets: LoraTarget[];
  /** adapted modules (A/B pairs) */
  modules: number;
  /** dtypes of the adapter tensors, e.g. ["F32"] */
  dtypes: string[];
  /** the A/B tensors with the file's own bytes, sorted by name */
  tensors: TensorToWrite[];
  /** things worth saying that do not stop the import */
  warnings: string[];
}

const MODULE = /^model\.layers\.(\d+)\.(self_attn|mlp)\.([a-z_]+)$/;
const LORA_KEY = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/;
const FLOAT = new Set(['F32', 'F16', 'BF16']);
const isEmpty = (v: unknown) => v === undefined || v === null || (typeof v === 'object' && Object.keys(v).length === 0);
const shape = (s: readonly number[]) => `[${s.join(', ')}]`;

function refuse(message: string, where: { file?: string; tensor?: string; field?: string }): never {
  throw new AlloyError(message, where);
}

/** PEFT matches target_modules by name suffix: "q_proj" and "self_attn.q_proj" both name q_proj. */
function checkTargetModules(list: readonly string[], arch: string): void {
  for (const t of list) {
    const leaf = t.slice(t.lastIndexOf('.') + 1);
    if (!(LORA_TARGETS as readonly string[]).includes(leaf)) {
      refuse(`${ADAPTER_CONFIG}: target module "${t}" is not a projection of ${arch} that Alloy adapts (${LORA_TARGETS.join(', ')})`, {
        file: ADAPTER_CONFIG,
        field: 'target_modules',
      });
    }
  }
}

/**
 * Reads the adapter and checks it against `base`: the config (LoRA only, no module copies or biases, known targets),
 * every tensor (a LoRA A/B weight of a q/k/v/o/gate/up/down projection of a layer the model has, a float dtype,
 * A [r, in] and B [out, r] fitting the base weight [out, in], finite values). The first problem is thrown, naming
 * the file, the tensor and both shapes; nothing has been written when it throws.
 */
export async function validateAdapter(files: ModelFiles, target: AdapterBase): Promise<ValidatedAdapter> {
  const adapter = await readPeftAdapter(files);
  const configText = await readText(files, ADAPTER_CONFIG);
  const raw = JSON.parse(configText) as Record<string, unknown>;
  const { config } = adapter;
  const arch = target.config.modelType;
  if (raw.bias !== undefined && raw.bias !== 'none') refuse(`${ADAPTER_CONFIG}: bias "${String(raw.bias)}" trains base biases, which Alloy does not import (only bias "none")`, { file: ADAPTER_CONFIG, field: 'bias' });
  if (!isEmpty(raw.modules_to_save)) refuse(`${ADAPTER_CONFIG}: modules_to_save (${JSON.stringify(raw.modules_to_save)}) are full module copies, not LoRA: not supported`, { file: ADAPTER_CONFIG, field: 'modules_to_save' });
  if (!isEmpty(raw.layer_replication)) refuse(`${ADAPTER_CONFIG}: layer_replication is not supported`, { file: ADAPTER_CONFIG, field: 'layer_replication' });
  if (Array.isArray(config.targetModules)) checkTargetModules(config.targetModules, arch);

  const file = adapter.file;
  for (const [name, info] of file.tensors) {
    if (!LORA_KEY.test(name)) {
      refuse(`${ADAPTER_WEIGHTS}: tensor "${name}" is not a LoRA weight (base_model.model.<module>.lora_A/lora_B.weight); embedding LoRA, biases and module copies are not supported`, {
        file: ADAPTER_WEIGHTS,
        tensor: name,
      });
    }
    if (!FLOAT.has(info.dtype)) refuse(`${ADAPTER_WEIGHTS}: "${name}" is ${info.dtype}; LoRA weights must be F32, F16 or BF16`, { file: ADAPTER_WEIGHTS, tensor: name });
  }

  const targets = new Set<LoraTarget>();
  const tensors: TensorToWrite[] = [];
  for (const p of adapter.pairs) {
    const module = p.target.slice(0, -'.weight'.length);
    const hit = MODULE.exec(module);
    const proj = hit?.[3] as LoraTarget | undefined;
    if (!hit || !proj || !(LORA_TARGETS as readonly string[]).includes(proj) || modulePath(Number(hit[1]), proj) !== module) {
      refuse(`${ADAPTER_WEIGHTS}: "${p.a}" adapts ${module}, which is not a module Alloy adapts (model.layers.N.self_attn.q/k/v/o_proj or .mlp.gate/up/down_proj)`, {
        file: ADAPTER_WEIGHTS,
        tensor: p.a,
      });
    }
    const layer = Number(hit[1]);
    if (layer >= target.config.numLayers) {
      refuse(`${ADAPTER_WEIGHTS}: "${p.a}" adapts layer ${layer}, but ${target.label} has ${target.config.numLayers} layers (0–${target.config.numLayers - 1}): an adapter of another model?`, {
        file: ADAPTER_WEIGHTS,
        tensor: p.a,
      });
    }
    if (!target.checkpoint.tensors.has(p.target)) refuse(`${target.label} has no tensor "${p.target}" for "${p.a}" to adapt`, { file: ADAPTER_WEIGHTS, tensor: p.a });
    const w = target.checkpoint.info(p.target).shape;
    const a = file.tensors.get(p.a)!.shape;
    const b = file.tensors.get(p.b)!.shape;
    const [out, inn] = w as [number, number];
    if (a[0] !== config.r) refuse(`${ADAPTER_WEIGHTS}: "${p.a}" is ${shape(a)}, but ${ADAPTER_CONFIG} says r = ${config.r} (expected [${config.r}, ${inn}])`, { file: ADAPTER_WEIGHTS, tensor: p.a });
    if (a[1] !== inn) {
      refuse(`${ADAPTER_WEIGHTS}: "${p.a}" is ${shape(a)}, but ${target.label}'s "${p.target}" is ${shape(w)}: lora_A must be [${config.r}, ${inn}]`, { file: ADAPTER_WEIGHTS, tensor: p.a });
    }
    if (b[0] !== out) {
      refuse(`${ADAPTER_WEIGHTS}: "${p.b}" is ${shape(b)}, but ${target.label}'s "${p.target}" is ${shape(w)}: lora_B must be [${out}, ${config.r}]`, { file: ADAPTER_WEIGHTS, tensor: p.b });
    }
    for (const name of [p.a, p.b]) {
      const values = await file.readF32(name);
      const bad = values.findIndex((x) => !Number.isFinite(x));
      if (bad >= 0) refuse(`${ADAPTER_WEIGHTS}: "${name}" holds ${values[bad]} at element ${bad}: the adapter is broken`, { file: ADAPTER_WEIGHTS, tensor: name });
      const info = file.tensors.get(name)!;
      tensors.push({ name, dtype: info.dtype, shape: info.shape, data: (await file.readRaw(name)).slice() });
    }
    targets.add(proj);
  }

  const warnings: string[] = [];
  const named = typeof raw.base_model_name_or_path === 'string' && raw.base_model_name_or_path ? raw.base_model_name_or_path : null;
  if (named && named !== target.repo) warnings.push(`${ADAPTER_CONFIG} names the base model ${named}; it was checked against ${target.label}, whose shapes it fits.`);
  if (config.loraDropout) warnings.push(`lora_dropout ${config.loraDropout} only matters in training; folding ignores it.`);
  return {
    config,
    configText,
    baseModelName: named,
    targets: LORA_TARGETS.filter((t) => targets.has(t)),
    modules: adapter.pairs.length,
    dtypes: [...new Set(tensors.map((t) => t.dtype))],
    tensors: tensors.sort((x, y) => (x.name < y.name ? -1 : 1)),
    warnings,
  };
}
