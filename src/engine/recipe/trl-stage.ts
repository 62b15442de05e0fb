/**
 * One recipe stage as a TRL stage config (the YAML `trl sft|dpo --config` reads, in the alignment-handbook's layout:
 * model, LoRA, data and trainer sections) and back. The mapping is one to one where TRL has the setting; TRL_MAPPING
 * says, field by field, what maps to what and where the two differ (the export's README prints it). Every key
 * written is a documented TRL field (trl-fields.ts); reading names every key TRL would refuse and every setting the
 * recipe cannot carry.
 *
 * A stage is LoRA unless the spec says `mode: full` (the full-parameter branch writes use_peft: false and no LoRA
 * keys); a YAML with use_peft false reads as a full stage where the spec has the mode, else as LoRA with a warning.
 */
import { AlloyError } from '../../common/errors.ts';
import type { Method } from '../../common/training-data.ts';
import { LORA_TARGETS } from '../lora/targets.ts';
import type { Path, Recipe, StageSpec } from './spec.ts';
import { LEGACY_KEYS, TRL_COMMAND, TRL_DEFAULTS, TRL_VERSION, anyOwnerOf, trlOwnerOf, type TrlCommand } from './trl-fields.ts';

export type StageMode = 'lora' | 'full';

/** A stage's mode (spec.ts: `mode: full`, else LoRA). */
export function stageMode(s: StageSpec): StageMode {
  return s.mode;
}

/** What maps to what, for the README and the tests: the TRL key, the recipe's setting, and any difference. */
export interface MappedField {
  trl: string;
  /** the recipe's key ("stages[].lr", "lora.rank"), or what the value is when the recipe has no such setting */
  alloy: string;
  /** only in these commands' YAMLs */
  commands?: readonly TrlCommand[];
  /** LoRA stages only */
  lora?: true;
  /** where the two do not match exactly */
  note?: string;
}

export const TRL_MAPPING: readonly MappedField[] = [
  { trl: 'model_name_or_path', alloy: 'the base model (stage 1), then the previous stage\'s folded model', note: 'Alloy folds each stage\'s LoRA into the model the next stage trains, as run.sh does with scripts/fold_lora.py' },
  { trl: 'use_peft', alloy: 'true for a LoRA stage (false: a full fine-tuning stage)' },
  { trl: 'lora_r', alloy: 'lora.rank', lora: true },
  { trl: 'lora_alpha', alloy: 'lora.alpha', lora: true },
  { trl: 'lora_dropout', alloy: '0 (the recipe trains LoRA without dropout)', lora: true, note: "written as 0.0; TRL's default is 0.05" },
  { trl: 'lora_target_modules', alloy: 'lora.targets', lora: true },
  { trl: 'use_rslora', alloy: 'false (the recipe scales by alpha / r)', lora: true },
  { trl: 'dataset_name', alloy: 'stages[].data, converted to its TRL shape in data/<stage>/train.jsonl', note: 'stages[].rows: only the first N rows are written' },
  { trl: 'dataset_train_split', alloy: 'train' },
  { trl: 'bf16', alloy: 'true', note: 'Alloy computes in f32, the cluster in bf16 autocast: losses agree to bf16 precision, not bit for bit' },
  { trl: 'gradient_checkpointing', alloy: 'true', note: "TRL's default; Alloy's per-layer recomputation is the same trade (memory for one more forward)" },
  { trl: 'learning_rate', alloy: 'stages[].lr' },
  { trl: 'lr_scheduler_type', alloy: 'stages[].schedule', note: 'constant with a warm-up is constant_with_warmup (HF constant has none)' },
  {
    trl: 'warmup_steps',
    alloy: 'stages[].warmup_steps, or stages[].warmup_ratio as a float below 1',
    note: 'transformers 5 deprecates warmup_ratio (gone in 5.2): warmup_steps < 1 is a ratio, ceil(ratio · steps) as in Alloy; a ratio of 1 cannot be written',
  },
  { trl: 'max_steps', alloy: 'stages[].steps' },
  {
    trl: 'num_train_epochs',
    alloy: 'stages[].epochs',
    note: 'HF counts floor(ceil(rows / (batch · GPUs)) / accumulation) steps an epoch, Alloy ceil(rows / (batch · accumulation)): on N GPUs about N times fewer steps, and a partial batch can round to one step less',
  },
  { trl: 'per_device_train_batch_size', alloy: 'stages[].micro_batch', note: 'per GPU: the global batch is micro_batch · accum · GPUs' },
  { trl: 'gradient_accumulation_steps', alloy: 'stages[].accum' },
  { trl: 'weight_decay', alloy: 'stages[].weight_decay' },
  { trl: 'max_grad_norm', alloy: 'stages[].max_grad_norm' },
  {
    trl: 'max_length',
    alloy: 'stages[].seq_len, else seq_len',
    note: "SFT and DPO keep the start of prompt + answer, as Alloy does; TRL's experimental ORPOTrainer cuts the answers its own way: the same wherever rows fit",
  },
  { trl: 'seed', alloy: 'seed', note: "the same number, but torch's generator draws the shuffle and the LoRA initialisation differently from Alloy's" },
  { trl: 'loss_type', alloy: '[sigmoid] for dpo, [ipo] for ipo', commands: ['dpo'] },
  { trl: 'beta', alloy: 'stages[].beta', commands: ['dpo', 'orpo'] },
  {
    trl: 'label_smoothing',
    alloy: 'stages[].label_smoothing',
    commands: ['dpo'],
    note: "Alloy's ε is cDPO's, which TRL ≤ 0.28's sigmoid loss read; TRL 1.x's sigmoid ignores it (its robust loss is rDPO, another formula), so only 0 maps exactly",
  },
  { trl: 'logging_steps', alloy: '1 (Alloy logs every step)' },
  { trl: 'save_strategy', alloy: 'no (the recipe keeps no checkpoints; the adapter is saved at the end)' },
  { trl: 'report_to', alloy: 'none' },
  { trl: 'precompute_ref_log_probs', alloy: 'true for a full dpo / ipo stage (reference log-probs from the starting weights, no second model)', commands: ['dpo'] },
  { trl: 'output_dir', alloy: 'outputs/adapters/<variant>: the stage\'s adapter (a full stage: outputs/<variant>, the model itself)' },
];

export interface TrlStagePlace {
  /** model_name_or_path */
  model: string;
  /** dataset_name: a folder holding train.jsonl */
  dataset: string;
  /** output_dir: where the adapter (or the full model) is saved */
  outputDir: string;
}

/** Numbers as PyYAML reads them back as the same type: floats always with a dot (PyYAML takes 1e-5 for a string). */
function pyFloat(x: number): string {
  if (Number.isInteger(x)) return `${x}.0`;
  const s = String(x);
  const m = /^(-?\d+)(e[-+]\d+)$/.exec(s);
  return m ? `${m[1]}.0${m[2]}` : s;
}

type Value = number | { float: number } | boolean | string | readonly string[];

/**
 * A string as YAML that PyYAML (YAML 1.1, what TRL's parser uses) reads back as the same string: plain when it is
 * a simple word or path and not one of YAML 1.1's booleans, nulls or numbers ("no" would be False), else quoted.
 */
function pyString(s: string): string {
  const special = /^(y|yes|n|no|true|false|on|off|null|~)$/i.test(s) || /^[-+]?(\d[\d_]*)?\.?\d*([eE][-+]?\d+)?$/.test(s);
  return /^[A-Za-z0-9_./][A-Za-z0-9_./@+-]*$/.test(s) && !special ? s : JSON.stringify(s);
}

function emit(key: string, v: Value): string {
  if (typeof v === 'object' && 'float' in v) return `${key}: ${pyFloat(v.float)}`;
  if (Array.isArray(v)) return `${key}:\n${(v as string[]).map((x) => `- ${pyString(x)}`).join('\n')}`;
  return `${key}: ${typeof v === 'string' ? pyString(v) : String(v)}`;
}

function section(title: string, entries: [string, Value][]): string {
  return `# ${title}\n${entries.map(([k, v]) => emit(k, v)).join('\n')}\n`;
}

const TRAINER: Readonly<Record<TrlCommand, string>> = { sft: 'SFTTrainer', dpo: 'DPOTrainer', orpo: 'ORPOTrainer' };

/** The stage's warm-up as TrainingArguments.warmup_steps: steps, or a ratio below 1. */
function warmupValue(s: StageSpec, where: string): Value {
  if (s.warmupSteps !== null) return s.warmupSteps;
  if (s.warmupRatio >= 1) throw new AlloyError(`${where}: warmup_ratio ${s.warmupRatio} cannot be written for transformers 5 (warmup_steps reads a ratio only below 1); give warmup_steps`, { field: 'warmup_ratio' });
  return s.warmupRatio === 0 ? 0 : { float: s.warmupRatio };
}

function warmsUp(s: StageSpec): boolean {
  return s.warmupSteps !== null ? s.warmupSteps > 0 : s.warmupRatio > 0;
}

/** A stage as the text of its TRL config YAML, every key a TRL field (trl-fields.ts). */
export function stageToTrlYaml(recipe: Recipe, stage: StageSpec, place: TrlStagePlace): string {
  const cmd = TRL_COMMAND[stage.method];
  const where = `stage ${stage.name}`;
  const mode = stageMode(stage);
  const head = `# ${stage.name} (${stage.method}) of "${recipe.name}": ${mode === 'lora' ? 'LoRA' : 'full fine-tuning'}, trained by TRL's ${TRAINER[cmd]} (TRL ${TRL_VERSION}).\n# Exported by Alloy; the keys are TRL's config fields (see README.md for what maps to what).\n\n`;
  const model = section('Model arguments', [['model_name_or_path', place.model]]);
  const lora =
    mode === 'lora'
      ? section('LoRA arguments', [
          ['use_peft', true],
          ['lora_r', recipe.lora.rank],
          ['lora_alpha', recipe.lora.alpha],
          ['lora_dropout', { float: 0 }],
          ['lora_target_modules', recipe.lora.targets],
          ['use_rslora', false],
        ])
      : section('Full fine-tuning', [['use_peft', false]]);
  const data = section('Data arguments', [
    ['dataset_name', place.dataset],
    ['dataset_train_split', 'train'],
  ]);
  const schedule = stage.schedule === 'constant' && warmsUp(stage) ? 'constant_with_warmup' : stage.schedule;
  const trainer: [string, Value][] = [
    ['bf16', true],
    ['gradient_checkpointing', true],
    ['learning_rate', { float: stage.lr }],
    ['lr_scheduler_type', schedule],
    ['warmup_steps', warmupValue(stage, where)],
    ...(stage.steps !== null ? ([['max_steps', stage.steps]] as [string, Value][]) : ([['num_train_epochs', { float: stage.epochs ?? 1 }]] as [string, Value][])),
    ['per_device_train_batch_size', stage.microBatch],
    ['gradient_accumulation_steps', stage.accum],
    ['weight_decay', { float: stage.weightDecay }],
    ['max_grad_norm', { float: stage.maxGradNorm }],
    ['max_length', stage.seqLen ?? recipe.seqLen],
    ['seed', recipe.seed],
  ];
  if (cmd === 'dpo') trainer.push(['loss_type', [stage.method === 'ipo' ? 'ipo' : 'sigmoid']], ['beta', { float: stage.beta }]);
  // full fine-tuning keeps no second model: the reference log-probs are computed once from the starting weights
  if (cmd === 'dpo' && mode === 'full') trainer.push(['precompute_ref_log_probs', true]);
  if (stage.method === 'dpo') trainer.push(['label_smoothing', { float: stage.labelSmoothing }]);
  if (cmd === 'orpo') trainer.push(['beta', { float: stage.beta }]);
  trainer.push(['logging_steps', 1], ['save_strategy', 'no'], ['report_to', 'none'], ['output_dir', place.outputDir]);
  return `${head}${model}\n${lora}\n${data}\n${section(`${TRAINER[cmd]} arguments`, trainer)}`;
}

/** The keys a stage's YAML holds, in order (for the tests' check against the field table). */
export function yamlKeys(text: string): string[] {
  return text
    .split('\n')
    .map((l) => /^([a-z_0-9]+):/.exec(l)?.[1])
    .filter((k): k is string => k !== undefined);
}

/** A stage read from a TRL YAML, as a recipe stage source (the snake_case keys spec.ts reads) plus the recipe-wide values. */
export interface TrlStageRead {
  method: Method;
  mode: StageMode;
  /** the stage's keys for readRecipe (no name, no data) */
  stage: Record<string, unknown>;
  /** the stage's effective max_length */
  maxLength: number;
  seed: number;
  lora: { rank: number; alpha: number; targets: string[] };
  model: string | null;
  dataset: string | null;
  /** every key TRL would refuse, every legacy name, every setting that does not carry over, in words */
  warnings: string[];
}

export interface ReadTrlOptions {
  file: string;
  /** the stage's objective when known (the export's manifest); else from loss_type or the path (…/sft/…, …/dpo/…) */
  method?: Method;
  lineOf?: (path: Path) => number | undefined;
}

/** The method a standalone YAML trains: loss_type ipo, else the alignment-handbook folder (recipes/<model>/<method>/). */
function inferMethod(o: Record<string, unknown>, file: string): Method | null {
  const lt = o.loss_type;
  if (lt === 'ipo' || (Array.isArray(lt) && lt.length === 1 && lt[0] === 'ipo')) return 'ipo';
  const parts = file.split(/[\\/]/).map((p) => p.toLowerCase());
  for (const m of ['cpt', 'sft', 'dpo', 'ipo', 'orpo'] as const) if (parts.slice(0, -1).includes(m) || new RegExp(`(^|[_.-])${m}([_.-]|$)`).test(parts.at(-1) ?? '')) return m;
  return null;
}

/** LoRA variants the recipe's plain LoRA is not (each named in its own warning when true). */
const PLAIN_LORA = ['use_rslora', 'use_dora', 'load_in_4bit', 'load_in_8bit'] as const;
const SAID = new Set<string>(PLAIN_LORA);

/** Keys every stage YAML may hold that only the cluster uses: no warning for these. */
const CLUSTER_ONLY = new Set([
  'bf16', 'fp16', 'tf32', 'gradient_checkpointing', 'gradient_checkpointing_kwargs', 'output_dir', 'logging_steps', 'logging_strategy',
  'logging_first_step', 'log_level', 'report_to', 'run_name', 'save_strategy', 'save_steps', 'save_total_limit', 'save_only_model',
  'push_to_hub', 'hub_model_id', 'hub_strategy', 'hub_private_repo', 'model_revision', 'dtype', 'attn_implementation',
  'dataset_num_proc', 'dataset_train_split', 'accelerate_config', 'num_processes', 'do_train', 'trust_remote_code',
  'per_device_eval_batch_size', 'eval_strategy', 'eval_steps', 'do_eval', 'dataset_test_split', 'use_liger_kernel',
]);

/**
 * A TRL / alignment-handbook stage config (parsed YAML) as a recipe stage. Values are type-checked here naming the
 * file, line and TRL key; ranges are checked by readRecipe afterwards. Missing keys take TRL's defaults (what the
 * cluster would train with), not Alloy's.
 */
export function readTrlStage(value: unknown, o: ReadTrlOptions): TrlStageRead {
  const file = o.file;
  const fail = (key: string, what: string) => {
    const line = o.lineOf?.([key]);
    return new AlloyError(`${file}${line !== undefined ? `:${line}` : ''}: ${key} ${what}`, { file, field: key, ...(line !== undefined ? { line } : {}) });
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new AlloyError(`${file}: a TRL stage config must be a mapping of TRL config fields`, { file });
  const raw = value as Record<string, unknown>;
  const warnings: string[] = [];
  // legacy names read as their TRL 1.x names
  const cfg: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    const legacy = LEGACY_KEYS[k];
    if (!legacy) cfg[k] = v;
    else if (legacy.now && !(legacy.now in raw)) {
      warnings.push(`${k} is ${legacy.what}; read as ${legacy.now} (TRL ${TRL_VERSION} refuses ${k})`);
      cfg[legacy.now] = v;
    } else warnings.push(`${k} is ${legacy.what}; not carried over${legacy.now ? ` (${legacy.now} is given)` : ''} (TRL ${TRL_VERSION} refuses it)`);
  }
  const method = o.method ?? inferMethod(cfg, file);
  if (!method) throw new AlloyError(`${file}: cannot tell which trainer this config is for; put it under a folder named sft, dpo or orpo (as the alignment-handbook's recipes/<model>/<method>/), name the file after its trainer (config_dpo.yaml) or set loss_type`, { file });
  const cmd = TRL_COMMAND[method];

  const unknown: string[] = [];
  const dropped: string[] = [];
  for (const k of Object.keys(raw)) {
    if (LEGACY_KEYS[k]) continue;
    if (trlOwnerOf(cmd, k) === null) {
      const other = anyOwnerOf(k);
      unknown.push(other ? `${k} (a ${other} field: trl ${cmd} refuses it)` : `${k} (no TRL ${TRL_VERSION} config has it)`);
    }
  }
  if (unknown.length) warnings.push(`unknown key${unknown.length > 1 ? 's' : ''} ignored: ${unknown.join(', ')}`);

  const num = (key: string, fallback: number): number => {
    const v = cfg[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v); // PyYAML reads 1e-5 as a string, which HfArgumentParser converts
    if (typeof v !== 'number' || !Number.isFinite(v)) throw fail(key, `must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = cfg[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') throw fail(key, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  const str = (key: string): string | null => {
    const v = cfg[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string' || v === '') throw fail(key, `must be a non-empty string, got ${JSON.stringify(v)}`);
    return v;
  };

  // training mode
  const peft = bool('use_peft', TRL_DEFAULTS.use_peft);
  const mode: StageMode = peft ? 'lora' : 'full';

  // LoRA
  let targets: string[] = ['q_proj', 'v_proj'];
  const t = cfg.lora_target_modules;
  if (t === 'all-linear') targets = [...LORA_TARGETS];
  else if (Array.isArray(t)) {
    if (!t.every((x) => typeof x === 'string')) throw fail('lora_target_modules', 'must list module names');
    targets = t as string[];
  } else if (t !== undefined && t !== null) throw fail('lora_target_modules', `must be a list of module names or "all-linear", got ${JSON.stringify(t)}`);
  const lora = { rank: num('lora_r', TRL_DEFAULTS.lora_r), alpha: num('lora_alpha', TRL_DEFAULTS.lora_alpha), targets };
  const dropout = num('lora_dropout', TRL_DEFAULTS.lora_dropout);
  if (peft && dropout !== 0) warnings.push(`lora_dropout ${dropout}${'lora_dropout' in cfg ? '' : " (TRL's default)"} not carried over: the recipe trains LoRA without dropout`);
  for (const k of PLAIN_LORA) if (bool(k, false)) warnings.push(`${k}: true not carried over: the recipe's LoRA is plain LoRA on unquantised weights`);

  // duration and schedule
  const maxSteps = num('max_steps', TRL_DEFAULTS.max_steps);
  const stage: Record<string, unknown> = mode === 'full' ? { mode: 'full' } : {};
  if (maxSteps > 0) {
    if (!Number.isInteger(maxSteps)) throw fail('max_steps', `must be a whole number, got ${maxSteps}`);
    stage.steps = maxSteps;
    if ('num_train_epochs' in cfg) warnings.push('num_train_epochs ignored: max_steps overrides it (as in TrainingArguments)');
  } else stage.epochs = num('num_train_epochs', TRL_DEFAULTS.num_train_epochs);
  stage.lr = num('learning_rate', TRL_DEFAULTS.learning_rate[cmd]);
  const sched = str('lr_scheduler_type') ?? TRL_DEFAULTS.lr_scheduler_type;
  const schedules: Record<string, string> = { linear: 'linear', cosine: 'cosine', constant: 'constant', constant_with_warmup: 'constant' };
  if (!(sched in schedules)) throw fail('lr_scheduler_type', `"${sched}" has no counterpart in the recipe (it has ${Object.keys(schedules).join(', ')})`);
  stage.schedule = schedules[sched];
  let ratio: number | null = null;
  let steps: number | null = null;
  if (cfg.warmup_steps !== undefined && cfg.warmup_steps !== null) {
    const w = num('warmup_steps', 0);
    if (w < 0 || (w >= 1 && !Number.isInteger(w))) throw fail('warmup_steps', `must be a whole number of steps or a ratio in [0, 1), got ${w}`);
    if (w >= 1) steps = w;
    else ratio = w;
  }
  if (cfg.warmup_ratio !== undefined && cfg.warmup_ratio !== null) {
    if (steps !== null || (ratio !== null && ratio > 0)) warnings.push('warmup_ratio ignored: warmup_steps is given too (transformers 5 reads warmup_steps)');
    else {
      ratio = num('warmup_ratio', 0);
      warnings.push('warmup_ratio is deprecated in transformers 5 (gone in 5.2); read as the ratio warmup_steps now takes');
    }
  }
  if (sched === 'constant' && (steps !== null || (ratio ?? 0) > 0)) {
    warnings.push('lr_scheduler_type constant has no warm-up in transformers (constant_with_warmup has one): the warm-up is dropped, as on the cluster');
    steps = null;
    ratio = 0;
  }
  if (steps !== null) stage.warmup_steps = steps;
  else stage.warmup_ratio = ratio ?? 0;

  // batching, regularisation, length
  stage.micro_batch = num('per_device_train_batch_size', TRL_DEFAULTS.per_device_train_batch_size);
  stage.accum = num('gradient_accumulation_steps', TRL_DEFAULTS.gradient_accumulation_steps);
  stage.weight_decay = num('weight_decay', TRL_DEFAULTS.weight_decay);
  stage.max_grad_norm = num('max_grad_norm', TRL_DEFAULTS.max_grad_norm);
  if ('max_length' in cfg && cfg.max_length === null) throw fail('max_length', 'is null (no truncation), which the recipe cannot hold; give a number of tokens');
  const maxLength = num('max_length', TRL_DEFAULTS.max_length);
  const seed = num('seed', TRL_DEFAULTS.seed);

  // the objective's own settings
  if (cmd === 'dpo') {
    const lt = cfg.loss_type ?? TRL_DEFAULTS.loss_type;
    const types = Array.isArray(lt) ? lt : [lt];
    const want = method === 'ipo' ? 'ipo' : 'sigmoid';
    if (types.length !== 1 || types[0] !== want) throw fail('loss_type', `${JSON.stringify(lt)} is not what the recipe's ${method} trains (loss_type [${want}]; the recipe has sigmoid as dpo and ipo as ipo)`);
  }
  if (cmd === 'dpo' || cmd === 'orpo') stage.beta = num('beta', TRL_DEFAULTS.beta);
  if (method === 'dpo') stage.label_smoothing = num('label_smoothing', TRL_DEFAULTS.label_smoothing);
  else if ('label_smoothing' in cfg && num('label_smoothing', 0) !== 0) warnings.push(`label_smoothing not carried over: ${method} takes none`);
  if (cfg.precompute_ref_log_probs === true && mode === 'lora') warnings.push("precompute_ref_log_probs: a LoRA stage's reference is the model with its adapter off, which gives the same log-probs");

  // TRL fields with no counterpart (training-relevant ones; cluster bookkeeping passes quietly)
  const mapped = new Set(TRL_MAPPING.map((m) => m.trl));
  for (const k of Object.keys(cfg)) {
    if (mapped.has(k) || CLUSTER_ONLY.has(k) || k === 'warmup_ratio' || k === 'num_train_epochs' || SAID.has(k)) continue;
    if (trlOwnerOf(cmd, k) !== null) dropped.push(k);
  }
  if (dropped.length) warnings.push(`TRL setting${dropped.length > 1 ? 's' : ''} with no counterpart in the recipe, not carried over: ${dropped.join(', ')}`);
  if ('datasets' in cfg) warnings.push('datasets (a TRL dataset mixture) not carried over: the recipe trains one dataset a stage; give dataset_name');

  return { method, mode, stage, maxLength, seed, lora, model: str('model_name_or_path'), dataset: str('dataset_name'), warnings };
}
