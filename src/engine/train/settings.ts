/**
 * The one schema of a training run's settings: each field's type, default (from defaults.ts), range and help, and
 * the names it goes by in each front end — the CLI flag (`alloy train`), the recipe's stage key, the Train panel's
 * form field, the TRL / PEFT name checkpoints record. The CLI's flags, option list and usage (`alloy train`'s whole
 * list, `alloy grad`'s setting flags), the recipe's stage keys and their checks, the Train panel's form and checks,
 * the checkpoint's objective check, and the field sets of TrainSettings (worker/train-api.ts) and TrainConfig
 * (trainer.ts) with the worker's settings → config copy (`pickShape`) are derived from it.
 * An objective's hyperparameters (beta, label smoothing, assistant-only loss) are fields here too, shown and
 * accepted only for the objectives whose registry record lists them (objectives/registry.ts).
 *
 * Pure data and small functions: no GPU, no DOM (the Train panel imports it on the main thread).
 */
import { TRAIN_DEFAULTS } from './defaults.ts';
import { METHODS, objectiveOf, takesParam } from '../../common/objectives/registry.ts';
import type { ObjectiveParamKey } from '../../common/objectives/common.ts';
import type { Method } from '../../common/training-data.ts';
import { LORA_TARGETS } from '../lora/targets.ts';

export type FieldKind = 'int' | 'number' | 'boolean' | 'choice' | 'list' | 'text';

/** [min, max] with open ends where said; absent bounds are unbounded. */
export interface Range {
  min?: number;
  max?: number;
  minOpen?: boolean;
  maxOpen?: boolean;
}

/** Where a field sits in the Train panel's form (fields without one are not numbers the form lists). */
export type FormGroup = 'LoRA' | 'Optimisation' | 'Batching' | 'Evaluation and checkpoints';

/**
 * The typed records a field belongs to: 'settings' = TrainSettings (the Train panel's run, stored with the run),
 * 'config' = TrainConfig (the Trainer's), 'config?' = an optional TrainConfig field.
 */
export type Shape = 'settings' | 'config' | 'config?';

export interface SettingField {
  /** the TrainSettings / TrainConfig field (camelCase); CLI-only fields have their own */
  key: string;
  /** `alloy train --<cli>` */
  cli: string;
  /** the value's placeholder in the usage text (absent: a boolean switch) */
  arg?: string;
  kind: FieldKind;
  /** where a default exists in one value (defaults.ts); some are derived at run time, said in `help` */
  default?: number | string | boolean | readonly string[];
  range?: Range;
  choices?: readonly string[];
  /** the recipe stage's key (snake_case), when a stage may set it */
  recipe?: string;
  /** the Hugging Face (TRL / PEFT / TrainingArguments) name, recorded in checkpoints and used in messages */
  hf?: string;
  /** an objective's hyperparameter: only the objectives whose record lists it take it */
  objective?: ObjectiveParamKey;
  /** an objective field's name in a refusal: "… is <what>; method cpt has no use for it" */
  what?: string;
  /**
   * An objective field's value where it does not apply, when the other objectives train as if it had one (cDPO's
   * ε: 0). Checkpoints compare such a field across methods (and read a missing one as this); without one, a field
   * is compared only between runs of the same objective.
   */
  off?: number;
  /** the Train panel: label, group, the input's step */
  form?: { label: string; group: FormGroup; step?: string };
  /** one line: what it does (the CLI usage, the panel's tooltip) */
  help: string;
  /** the typed records that hold it (absent: the CLI's only) */
  in?: readonly Shape[];
  /** `alloy grad` takes it too (the same flag, the same checks) */
  grad?: boolean;
}

const D = TRAIN_DEFAULTS;

const S = ['settings'] as const;
const SC = ['settings', 'config'] as const;

/** Every `alloy train` option, in the order the usage lists them. */
const FIELDS = [
  // what to train on and where to write (CLI only; the panel picks a model and data, the recipe names them)
  { key: 'model', cli: 'model', arg: 'DIR', kind: 'text', help: 'the base model: a Hugging Face folder' },
  { key: 'data', cli: 'data', arg: 'FILE.jsonl', kind: 'text', help: 'training rows in a TRL shape' },
  { key: 'method', cli: 'method', arg: METHODS.join('|'), kind: 'choice', choices: METHODS, recipe: 'method', help: 'the objective (engine/train/objectives/)', in: SC, grad: true },
  { key: 'out', cli: 'out', arg: 'ADAPTER_DIR', kind: 'text', help: 'where the PEFT adapter is written' },
  { key: 'mode', cli: 'mode', arg: 'lora|full', kind: 'choice', choices: ['lora', 'full'], default: 'lora', help: 'what trains: LoRA adapters on the frozen base (lora), or every parameter of the model (full)', grad: true },
  // LoRA (PEFT LoraConfig)
  { key: 'rank', cli: 'rank', arg: 'R', kind: 'int', default: D.rank, range: { min: 1 }, hf: 'r', form: { label: 'rank r', group: 'LoRA' }, help: 'LoRA rank', in: S },
  { key: 'alpha', cli: 'alpha', arg: 'A', kind: 'number', default: D.alpha, range: { min: 0, minOpen: true }, hf: 'lora_alpha', form: { label: 'alpha', group: 'LoRA', step: 'any' }, help: 'scale = alpha / r (CLI default 2r)', in: S },
  { key: 'targets', cli: 'targets', arg: 'q_proj,v_proj', kind: 'list', default: D.targets, hf: 'target_modules', help: 'the projections to adapt', in: S, choices: LORA_TARGETS },
  { key: 'dropout', cli: 'lora-dropout', arg: 'P', kind: 'number', default: D.loraDropout, range: { min: 0, max: 1, maxOpen: true }, hf: 'lora_dropout', form: { label: 'dropout', group: 'LoRA', step: '0.05' }, help: "PEFT's lora_dropout on the adapter's input, training only", in: S },
  // optimisation (HF TrainingArguments)
  { key: 'lr', cli: 'lr', arg: 'LR', kind: 'number', default: D.lr, range: { min: 0, minOpen: true }, recipe: 'lr', hf: 'learning_rate', form: { label: 'learning rate', group: 'Optimisation', step: 'any' }, help: 'peak learning rate', in: SC },
  { key: 'steps', cli: 'steps', arg: 'N', kind: 'int', default: 10, range: { min: 1 }, recipe: 'steps', hf: 'max_steps', form: { label: 'steps', group: 'Optimisation' }, help: 'optimizer steps (CLI default 10)', in: SC },
  { key: 'schedule', cli: 'schedule', arg: 'cosine|linear|constant', kind: 'choice', choices: ['cosine', 'linear', 'constant'], default: D.schedule, recipe: 'schedule', hf: 'lr_scheduler_type', help: 'learning-rate schedule after the warm-up', in: SC },
  { key: 'warmupSteps', cli: 'warmup-steps', arg: 'W', kind: 'int', range: { min: 0 }, recipe: 'warmup_steps', hf: 'warmup_steps', form: { label: 'warm-up steps', group: 'Optimisation' }, help: 'linear warm-up steps (or --warmup-ratio)', in: SC },
  { key: 'warmupRatio', cli: 'warmup-ratio', arg: 'F', kind: 'number', default: D.warmupRatio, range: { min: 0, max: 1 }, recipe: 'warmup_ratio', hf: 'warmup_ratio', help: 'warm-up as a fraction of the steps, ceil(F · steps) as HF' },
  { key: 'maxGradNorm', cli: 'clip', arg: 'MAX', kind: 'number', default: D.maxGradNorm, range: { min: 0 }, recipe: 'max_grad_norm', hf: 'max_grad_norm', form: { label: 'clip grad norm (0 = off)', group: 'Optimisation', step: 'any' }, help: 'clip by the global L2 norm (0 = off)', in: SC },
  { key: 'weightDecay', cli: 'weight-decay', arg: 'WD', kind: 'number', default: D.weightDecay, range: { min: 0 }, recipe: 'weight_decay', hf: 'weight_decay', form: { label: 'weight decay', group: 'Optimisation', step: 'any' }, help: "AdamW's decoupled weight decay", in: SC },
  // the objectives' hyperparameters (TRL configs)
  { key: 'beta', cli: 'beta', arg: 'B', kind: 'number', default: D.beta, range: { min: 0, minOpen: true }, recipe: 'beta', hf: 'beta', objective: 'beta', what: 'the preference objectives\' beta', form: { label: 'beta', group: 'Optimisation', step: 'any' }, help: 'the preference objective\'s β (TRL 0.1)', in: S, grad: true },
  { key: 'labelSmoothing', cli: 'label-smoothing', arg: 'E', kind: 'number', default: D.labelSmoothing, range: { min: 0, max: 0.5, maxOpen: true }, recipe: 'label_smoothing', hf: 'label_smoothing', objective: 'labelSmoothing', off: 0, what: "DPO's label smoothing (cDPO)", form: { label: 'label smoothing', group: 'Optimisation', step: '0.05' }, help: "cDPO's ε, TRL's label_smoothing: the assumed chance that a preference label is flipped", in: S, grad: true },
  { key: 'assistantOnlyLoss', cli: 'assistant-only-loss', kind: 'boolean', default: D.assistantOnlyLoss, hf: 'assistant_only_loss', objective: 'assistantOnlyLoss', what: "an SFT option (TRL's assistant_only_loss)", help: "{messages} rows train on their assistant turns only (TRL's assistant_only_loss)", in: S },
  // batching
  { key: 'microBatch', cli: 'micro-batch', arg: 'M', kind: 'int', default: D.microBatch, range: { min: 1 }, recipe: 'micro_batch', hf: 'per_device_train_batch_size', form: { label: 'micro-batch', group: 'Batching' }, help: 'rows (or pairs) per forward', in: SC, grad: true },
  { key: 'accum', cli: 'accum', arg: 'K', kind: 'int', default: D.accum, range: { min: 1 }, recipe: 'accum', hf: 'gradient_accumulation_steps', form: { label: 'accumulation steps', group: 'Batching' }, help: 'micro-batches per optimizer step', in: SC, grad: true },
  { key: 'batch', cli: 'batch', arg: 'B', kind: 'int', range: { min: 1 }, help: 'effective rows per step = M·K (gives M or K from the other)' },
  { key: 'seqLen', cli: 'seq-len', arg: 'T', kind: 'int', range: { min: 2 }, recipe: 'seq_len', hf: 'max_length', form: { label: 'sequence length (tokens)', group: 'Batching' }, help: "tokens kept per row, keeping the start as TRL (CLI default: the model's context)", in: S },
  { key: 'seed', cli: 'seed', arg: 'S', kind: 'int', default: D.seed, range: { min: 0 }, hf: 'seed', form: { label: 'seed', group: 'Batching' }, help: 'seeds the adapter init, the shuffle, the split and dropout', in: SC },
  { key: 'recompute', cli: 'recompute', kind: 'boolean', default: false, help: 'per-layer activation recomputation: less GPU memory, about one more forward per micro-batch', in: ['settings', 'config?'] as const },
  // evaluation and checkpoints
  { key: 'valData', cli: 'val-data', arg: 'FILE', kind: 'text', help: 'held-out rows (or --val-split)' },
  { key: 'valSplit', cli: 'val-split', arg: 'F', kind: 'number', range: { min: 0, max: 1, minOpen: true, maxOpen: true }, help: 'hold out a seeded fraction of the rows (a pair stays whole)', in: S },
  { key: 'evalEvery', cli: 'eval-every', arg: 'N', kind: 'int', default: D.evalEvery, range: { min: 0 }, hf: 'eval_steps', form: { label: 'validate every N steps (0 = never)', group: 'Evaluation and checkpoints' }, help: 'validation every N steps (CLI default: a tenth of the run when there is validation data)', in: SC },
  { key: 'checkpointDir', cli: 'checkpoint-dir', arg: 'DIR', kind: 'text', help: 'where checkpoints go' },
  { key: 'checkpointEvery', cli: 'checkpoint-every', arg: 'N', kind: 'int', range: { min: 1 }, hf: 'save_steps', form: { label: 'checkpoint every N steps', group: 'Evaluation and checkpoints' }, help: 'a checkpoint every N steps (default: a tenth of the run)', in: SC },
  { key: 'keepCheckpoints', cli: 'keep-checkpoints', arg: 'K', kind: 'int', default: D.keepCheckpoints, range: { min: 1 }, hf: 'save_total_limit', form: { label: 'checkpoints kept', group: 'Evaluation and checkpoints' }, help: 'checkpoints kept', in: SC },
  { key: 'resume', cli: 'resume', kind: 'boolean', help: "continue from --checkpoint-dir's latest checkpoint" },
] as const satisfies readonly SettingField[];
export const TRAIN_FIELDS: readonly SettingField[] = FIELDS;

type Field = (typeof FIELDS)[number];
/** A field's value type from its kind (a choice or list field: its choices' type). */
type ValueOf<F> = F extends { kind: 'int' | 'number' }
  ? number
  : F extends { kind: 'boolean' }
    ? boolean
    : F extends { kind: 'choice'; choices: readonly (infer C)[] }
      ? C
      : F extends { kind: 'list'; choices: readonly (infer C)[] }
        ? C[]
        : string;
type KeyIn<F, S extends Shape> = F extends { key: infer K extends string; in: readonly (infer X)[] } ? (S extends X ? K : never) : never;
/** The record of the fields in `S`, keyed and typed as the schema says (TrainSettings = ShapeOf<'settings'>). */
export type ShapeOf<S extends 'settings' | 'config'> = { [F in Field as KeyIn<F, S>]: ValueOf<F> } & (S extends 'config' ? { [F in Field as KeyIn<F, 'config?'>]?: ValueOf<F> } : unknown);

/** The fields of `shape` copied from a record that has them (the worker's settings → the Trainer's config). */
export function pickShape<S extends 'settings' | 'config'>(shape: S, from: Partial<Record<string, unknown>>): Partial<ShapeOf<S>> {
  const out: Record<string, unknown> = {};
  for (const f of TRAIN_FIELDS) if (f.in?.some((x) => x === shape || x === `${shape}?`) && from[f.key] !== undefined) out[f.key] = from[f.key];
  return out as Partial<ShapeOf<S>>;
}

export function field(key: string): SettingField {
  const f = TRAIN_FIELDS.find((x) => x.key === key);
  if (!f) throw new RangeError(`no training setting "${key}"`);
  return f;
}

/** The field behind a CLI flag. */
export function fieldOfFlag(flag: string): SettingField | undefined {
  return TRAIN_FIELDS.find((x) => x.cli === flag);
}

/** Every `alloy train` flag (main.ts's option list for the command). */
export const TRAIN_FLAGS: readonly string[] = TRAIN_FIELDS.map((f) => f.cli);

/** The setting flags `alloy grad` takes (beside its own --model, --adapter, --data, --out), in the schema's order. */
export const GRAD_FLAGS = FIELDS.filter((f) => 'grad' in f && f.grad).map((f) => f.cli) as GradFlag[];
export type GradFlag = Extract<Field, { grad: true }>['cli'];

/** "--beta B": a flag and its placeholder, for usage lines written around the schema's fields. */
export function flagText(cli: string): string {
  const f = fieldOfFlag(cli)!;
  return `--${f.cli}${f.arg ? ` ${f.arg}` : ''}`;
}

/** The recipe stage keys that are settings (spec.ts adds name, data, epochs and rows). */
export const STAGE_SETTING_KEYS: readonly string[] = TRAIN_FIELDS.filter((f) => f.recipe !== undefined).map((f) => f.recipe!);

/** Whether `method` takes the setting: every non-objective field, an objective's only where its record lists it. */
export function appliesTo(f: SettingField, method: Method): boolean {
  return f.objective === undefined || takesParam(method, f.objective);
}

/** The objectives that take an objective field, e.g. "dpo" or "dpo, ipo, orpo". */
export function methodsTaking(f: SettingField): Method[] {
  return METHODS.filter((m) => appliesTo(f, m));
}

/** "[0, 0.5)", "> 0", "≥ 1", or '' when unbounded. */
export function rangeText(r: Range | undefined): string {
  if (!r || (r.min === undefined && r.max === undefined)) return '';
  if (r.max === undefined) return `${r.minOpen ? '>' : '≥'} ${r.min}`;
  if (r.min === undefined) return `${r.maxOpen ? '<' : '≤'} ${r.max}`;
  return `in ${r.minOpen ? '(' : '['}${r.min}, ${r.max}${r.maxOpen ? ')' : ']'}`;
}

export function inRange(v: number, r: Range | undefined): boolean {
  if (!Number.isFinite(v)) return false;
  if (!r) return true;
  if (r.min !== undefined && (r.minOpen ? !(v > r.min) : !(v >= r.min))) return false;
  if (r.max !== undefined && (r.maxOpen ? !(v < r.max) : !(v <= r.max))) return false;
  return true;
}

/** What is wrong with a number for this field, or null: "must be a whole number ≥ 1", "must be in [0, 0.5)". */
export function numberProblem(f: SettingField, v: number): string | null {
  if (f.kind === 'int') return Number.isInteger(v) && inRange(v, f.range) ? null : `must be a whole number ${rangeText(f.range)}`.trimEnd();
  if (typeof v === 'number' && inRange(v, f.range)) return null;
  const r = rangeText(f.range);
  return r.startsWith('in ') ? `must be ${r}` : `must be a number ${r}`.trimEnd();
}

/**
 * A CLI flag's number: "must be a number" / "a positive integer" / "a non-negative integer" when it does not parse
 * as one (the CLI's words), then the field's range.
 */
export function parseFlagNumber(f: SettingField, raw: string): number {
  const n = Number(raw);
  const min = f.range?.min;
  if (f.kind === 'int') {
    const ok = Number.isInteger(n) && inRange(n, f.range);
    if (!ok) {
      const what = min === 1 ? 'positive integer' : min === 0 ? 'non-negative integer' : `whole number ${rangeText(f.range)}`;
      throw new RangeError(`--${f.cli} must be a ${what}, got "${raw}"`);
    }
    return n;
  }
  if (raw.trim() === '' || !Number.isFinite(n)) throw new RangeError(`--${f.cli} must be a number, got "${raw}"`);
  if (!inRange(n, f.range)) {
    const r = rangeText(f.range);
    throw new RangeError(`--${f.cli} must be ${r.startsWith('in ') ? r : `a number ${r}`}, got "${raw}"`);
  }
  return n;
}

/** What an objective field is, for a refusal ("is DPO's label smoothing (cDPO)"); null when `method` takes it. */
export function notForMethod(f: SettingField, method: Method): string | null {
  if (appliesTo(f, method)) return null;
  const p = objectiveOf(methodsTaking(f)[0]!).params.find((x) => x.key === f.objective);
  return `is ${f.what ?? `${p?.trl ?? f.key}`}`;
}

/** The `alloy train` usage: the command line, then the options in groups, from the fields. */
export function trainUsage(indent: string): string {
  const opt = (f: SettingField) => {
    const owners = f.objective ? ` (${methodsTaking(f).join('/')})` : '';
    return `--${f.cli}${f.arg ? ` ${f.arg}` : ''}${owners}`;
  };
  const required = ['model', 'data', 'method', 'out'].map((k) => opt(field(k))).join(' ');
  const rest = TRAIN_FIELDS.filter((f) => !['model', 'data', 'method', 'out'].includes(f.key));
  const lines: string[] = [];
  let line = '';
  for (const f of rest) {
    const o = `[${opt(f)}]`;
    if (line && line.length + o.length > 100) (lines.push(line), (line = ''));
    line += (line ? ' ' : '') + o;
  }
  if (line) lines.push(line);
  return `alloy train    ${required}\n${lines.map((l) => indent + l).join('\n')}`;
}
