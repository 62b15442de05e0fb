/**
 * A recipe: the study's pipeline (REFERENCE-SEMANTICS.md §5) as data. Training stages (cpt → sft → dpo/orpo, any
 * subset, in order) each train a LoRA on the current model and fold it in; then an optional SLERP of the final
 * model with the original one; then an optional multiple-choice benchmark of every variant.
 *
 * YAML (snake_case keys, as the study's alignment-handbook YAMLs; every key but `stages` is optional and falls back
 * to RECIPE_DEFAULTS in presets.ts):
 *   name: demo
 *   seed: 42
 *   seq_len: 64                     # tokens per row (keep_start truncation, as TRL's collators)
 *   lora: {rank: 8, alpha: 16, targets: [q_proj, v_proj]}
 *   stages:
 *     - method: cpt                 # any registered objective: cpt | sft | dpo | ipo | orpo
 *       data: demo/data/corpus.txt  # resolved by the caller (CLI: beside the YAML; studio: the site)
 *       steps: 8                    # or epochs: 2 (steps = ceil(epochs · rows / (micro_batch · accum)))
 *       rows: 8                     # optional: only the first N rows
 *       lr: 2e-3
 *       schedule: cosine            # cosine | linear | constant
 *       warmup_ratio: 0.1           # or warmup_steps: 100
 *       micro_batch: 4
 *       accum: 1
 *       weight_decay: 0
 *       max_grad_norm: 1
 *       beta: 0.1                   # dpo / ipo / orpo
 *       label_smoothing: 0          # dpo only: cDPO's ε in [0, 0.5) (TRL's label_smoothing)
 *       seq_len: 64                 # optional: this stage's own row length
 *   merge: {method: slerp, t: 0.5}  # t: a scalar, an anchor list, or {self_attn: …, mlp: …, default: …}
 *                                   # optional sweep: [0.25, 0.5, 0.75] (one more merge per scalar t)
 *   benchmark: {file: benchmarks/materials-bio-mc.jsonl, limit: 48}
 *   perplexity: {file: demo/village/general.jsonl, limit: 8}    # held-out text (.txt or JSONL {text}): forgetting
 * Parsing names the line and key of anything wrong; unknown keys are refused (a typo would silently train with a
 * default otherwise).
 */
import { isMap, isScalar, stringify, type Document, type LineCounter } from 'yaml';
import { AlloyError } from '../../common/errors.ts';
import { parseYamlDocument } from '../../io/yaml.ts';
import { LORA_TARGETS, type LoraTarget } from '../lora/targets.ts';
import type { ScheduleKind } from '../train/defaults.ts';
import { STAGE_SETTING_KEYS, TRAIN_FIELDS, inRange, notForMethod, rangeText, type SettingField } from '../train/settings.ts';
import { METHODS, takesParam, type Method } from '../train/objectives.ts';
import type { TrainMode } from '../train/memory.ts';

/** A stage trains any registered objective (engine/train/objectives/registry.ts). */
export const STAGE_METHODS: readonly Method[] = METHODS;
const SCHEDULES: readonly ScheduleKind[] = ['cosine', 'linear', 'constant'];

export interface StageSpec {
  /** shown in events and used in folder names, e.g. "CPT" */
  name: string;
  method: Method;
  /** what trains: LoRA on the current model (folded into it afterwards), or every parameter (full) */
  mode: TrainMode;
  data: string;
  /** optimizer steps; when null, `epochs` decides */
  steps: number | null;
  epochs: number | null;
  /** only the first N rows of the data (null: all) */
  rows: number | null;
  lr: number;
  schedule: ScheduleKind;
  /** warm-up as steps (wins) or as a ratio of the stage's steps */
  warmupSteps: number | null;
  warmupRatio: number;
  microBatch: number;
  accum: number;
  weightDecay: number;
  maxGradNorm: number;
  /** DPO / ORPO beta */
  beta: number;
  /** DPO's label smoothing (cDPO ε); 0 for other methods, which refuse another value */
  labelSmoothing: number;
  /** tokens per row for this stage (null: the recipe's seq_len) */
  seqLen: number | null;
}

export interface LoraSpec {
  rank: number;
  alpha: number;
  targets: LoraTarget[];
}

/** A SLERP factor: a scalar, anchors across depth, or mergekit's filtered form (the study's gradient). */
export type TSetting = number | number[] | { selfAttn?: number | number[]; mlp?: number | number[]; default: number | number[] };

export interface MergeSpec {
  method: 'slerp';
  /** t = 0 is the original model (mergekit's base_model), t = 1 the recipe's final model */
  t: TSetting;
  /**
   * Scalar t values of a SLERP t-sweep: one more merge of the same two models per value, scored like every variant,
   * so the trade-off between the benchmark and held-out perplexity shows along t (empty: no sweep)
   */
  sweep: number[];
}

export interface BenchmarkSpec {
  file: string;
  /** the first N items (null: all) */
  limit: number | null;
}

/** Held-out text scored for perplexity on every variant (what the training costs on general text). */
export interface PerplexitySpec {
  file: string;
  /** the first N documents (null: all) */
  limit: number | null;
}

export interface Recipe {
  name: string;
  seed: number;
  seqLen: number;
  lora: LoraSpec;
  stages: StageSpec[];
  merge: MergeSpec | null;
  benchmark: BenchmarkSpec | null;
  perplexity: PerplexitySpec | null;
}

/** What a recipe may leave out (presets.ts holds the values). */
export interface RecipeDefaults {
  seed: number;
  seqLen: number;
  lora: LoraSpec;
  stage: Omit<StageSpec, 'name' | 'method' | 'mode' | 'data' | 'steps' | 'epochs' | 'seqLen'> & { steps: number };
}

export type Path = (string | number)[];

/** A stage's keys: what the stage is (name, data, epochs, rows) and the training settings a stage may set (settings.ts). */
export const STAGE_KEYS: readonly string[] = ['name', 'data', 'epochs', 'rows', ...STAGE_SETTING_KEYS];
const TOP_KEYS = ['name', 'seed', 'seq_len', 'lora', 'stages', 'merge', 'benchmark', 'perplexity'];

/** Reads values out of a parsed object, naming file, line and key path when one is wrong. */
class Reader {
  constructor(
    private readonly file: string,
    private readonly lineOf: (path: Path) => number | undefined,
  ) {}

  fail(path: Path, what: string): AlloyError {
    const line = this.lineOf(path);
    const key = path.length ? path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '') : 'the recipe';
    return new AlloyError(`${this.file}${line !== undefined ? `:${line}` : ''}: ${key} ${what}`, { file: this.file, field: key, ...(line !== undefined ? { line } : {}) });
  }

  object(v: unknown, path: Path): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw this.fail(path, 'must be a mapping');
    return v as Record<string, unknown>;
  }

  keys(o: Record<string, unknown>, path: Path, allowed: readonly string[]): void {
    for (const k of Object.keys(o)) if (!allowed.includes(k)) throw this.fail([...path, k], `is not a recipe key (expected one of ${allowed.join(', ')})`);
  }

  number(v: unknown, path: Path, kind: 'any' | 'positive' | 'nonneg' | 'count' | 'int+' | 'unit' = 'any'): number {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw this.fail(path, `must be a number, got ${JSON.stringify(v)}`);
    const ok =
      kind === 'any' ||
      (kind === 'positive' && v > 0) ||
      (kind === 'nonneg' && v >= 0) ||
      (kind === 'count' && Number.isInteger(v) && v >= 0) ||
      (kind === 'int+' && Number.isInteger(v) && v > 0) ||
      (kind === 'unit' && v >= 0 && v <= 1);
    if (!ok) {
      const want = { any: '', positive: 'a number > 0', nonneg: 'a number ≥ 0', count: 'a whole number ≥ 0', 'int+': 'a whole number ≥ 1', unit: 'a number in [0, 1]' }[kind];
      throw this.fail(path, `must be ${want}, got ${v}`);
    }
    return v;
  }

  string(v: unknown, path: Path): string {
    if (typeof v !== 'string' || v === '') throw this.fail(path, `must be a non-empty string, got ${JSON.stringify(v)}`);
    return v;
  }

  opt<T>(o: Record<string, unknown>, key: string, path: Path, read: (v: unknown, p: Path) => T, fallback: T): T {
    return o[key] === undefined || o[key] === null ? fallback : read(o[key], [...path, key]);
  }

  anchors(v: unknown, path: Path): number | number[] {
    if (typeof v === 'number') return this.number(v, path, 'unit');
    if (!Array.isArray(v) || v.length === 0) throw this.fail(path, 'must be a number or a list of numbers in [0, 1]');
    return v.map((x, i) => this.number(x, [...path, i], 'unit'));
  }
}

function readStage(r: Reader, v: unknown, i: number, d: RecipeDefaults): StageSpec {
  const p: Path = ['stages', i];
  const o = r.object(v, p);
  r.keys(o, p, STAGE_KEYS);
  const method = r.string(o.method, [...p, 'method']) as Method;
  if (!STAGE_METHODS.includes(method)) throw r.fail([...p, 'method'], `must be one of ${STAGE_METHODS.join(', ')}, got "${method}"`);
  if (o.steps != null && o.epochs != null) throw r.fail([...p, 'epochs'], 'and steps are both given; give one');
  const steps = r.opt(o, 'steps', p, (x, q) => r.number(x, q, 'int+'), null as number | null);
  const epochs = r.opt(o, 'epochs', p, (x, q) => r.number(x, q, 'positive'), null as number | null);
  const schedule = r.opt(o, 'schedule', p, (x, q) => r.string(x, q), d.stage.schedule as string) as ScheduleKind;
  if (!SCHEDULES.includes(schedule)) throw r.fail([...p, 'schedule'], `must be one of ${SCHEDULES.join(', ')}, got "${schedule}"`);
  const mode = r.opt(o, 'mode', p, (x, q) => r.string(x, q), 'lora') as TrainMode;
  if (mode !== 'lora' && mode !== 'full') throw r.fail([...p, 'mode'], `must be lora or full, got "${mode}"`);
  // a training setting under its recipe key, checked against its field's type and range (settings.ts)
  const read = (key: string) => (x: unknown, q: Path) => readSetting(r, x, q, TRAIN_FIELDS.find((f) => f.recipe === key)!, method);
  const setting = (key: string, fallback: number): number => r.opt(o, key, p, read(key), fallback);
  const optional = (key: string, fallback: number | null): number | null => r.opt(o, key, p, read(key), fallback);
  return {
    name: r.opt(o, 'name', p, (x, q) => r.string(x, q), method.toUpperCase()),
    method,
    mode,
    data: r.string(o.data, [...p, 'data']),
    steps: steps ?? (epochs === null ? d.stage.steps : null),
    epochs,
    rows: r.opt(o, 'rows', p, (x, q) => r.number(x, q, 'int+'), d.stage.rows),
    lr: setting('lr', d.stage.lr),
    schedule,
    warmupSteps: optional('warmup_steps', d.stage.warmupSteps),
    warmupRatio: setting('warmup_ratio', d.stage.warmupRatio),
    microBatch: setting('micro_batch', d.stage.microBatch),
    accum: setting('accum', d.stage.accum),
    weightDecay: setting('weight_decay', d.stage.weightDecay),
    maxGradNorm: setting('max_grad_norm', d.stage.maxGradNorm),
    beta: setting('beta', d.stage.beta),
    labelSmoothing: setting('label_smoothing', d.stage.labelSmoothing),
    seqLen: optional('seq_len', null),
  };
}

/** The Reader's kind for a field's range, so its words ("a number > 0", "a whole number ≥ 1") name the field's rule. */
function readerKind(f: SettingField): 'any' | 'positive' | 'nonneg' | 'count' | 'int+' | 'unit' {
  const g = f.range ?? {};
  if (f.kind === 'int') return g.min === 0 ? 'count' : 'int+';
  if (g.min === 0 && g.max === 1 && !g.minOpen && !g.maxOpen) return 'unit';
  if (g.min === 0) return g.minOpen ? 'positive' : 'nonneg';
  return 'any';
}

/**
 * A stage's setting: refused by name where the stage's objective does not read it (cDPO's ε on an ORPO stage would
 * train as if it were not there), then its type, then the rest of its range (e.g. ε < 0.5).
 */
function readSetting(r: Reader, v: unknown, path: Path, f: SettingField, method: Method): number {
  // beta is kept for every stage (the recipe's default serves whichever stage reads it); other objective
  // settings only where the objective takes them
  const why = f.objective && f.objective !== 'beta' ? notForMethod(f, method) : null;
  if (why) throw r.fail(path, `${why}; this stage's method, ${method}, has no use for it`);
  const x = r.number(v, path, readerKind(f));
  if (!inRange(x, f.range)) throw r.fail(path, `must be ${rangeText(f.range).replace(/^(?!in )/, 'a whole number ')}, got ${x}`);
  return x;
}

function readT(r: Reader, v: unknown, path: Path): TSetting {
  if (typeof v === 'number' || Array.isArray(v)) return r.anchors(v, path);
  const o = r.object(v, path);
  r.keys(o, path, ['self_attn', 'mlp', 'default']);
  if (o.default === undefined) throw r.fail([...path, 'default'], 'is missing (the t of tensors outside self_attn and mlp)');
  return {
    ...(o.self_attn !== undefined ? { selfAttn: r.anchors(o.self_attn, [...path, 'self_attn']) } : {}),
    ...(o.mlp !== undefined ? { mlp: r.anchors(o.mlp, [...path, 'mlp']) } : {}),
    default: r.anchors(o.default, [...path, 'default']),
  };
}

/** A recipe from plain data (parsed YAML or JSON); `lineOf` maps a key path to its line when known. */
export function readRecipe(value: unknown, defaults: RecipeDefaults, file = 'recipe.yaml', lineOf: (path: Path) => number | undefined = () => undefined): Recipe {
  const r = new Reader(file, lineOf);
  const o = r.object(value, []);
  r.keys(o, [], TOP_KEYS);
  if (!Array.isArray(o.stages) || o.stages.length === 0) throw r.fail(['stages'], 'must list at least one training stage');
  const stages = o.stages.map((s, i) => readStage(r, s, i, defaults));
  const names = new Set<string>();
  stages.forEach((s, i) => {
    if (names.has(s.name)) throw r.fail(['stages', i, 'name'], `"${s.name}" is used by an earlier stage; give each stage its own name`);
    if (!/^[\w.-]+$/.test(s.name)) throw r.fail(['stages', i, 'name'], `"${s.name}" may hold only letters, digits, "_", "." and "-" (it names folders)`);
    names.add(s.name);
  });

  let lora = defaults.lora;
  if (o.lora != null) {
    const l = r.object(o.lora, ['lora']);
    r.keys(l, ['lora'], ['rank', 'alpha', 'targets']);
    const rank = r.opt(l, 'rank', ['lora'], (x, q) => r.number(x, q, 'int+'), defaults.lora.rank);
    const targets = r.opt(
      l,
      'targets',
      ['lora'],
      (x, q) => {
        if (!Array.isArray(x) || x.length === 0) throw r.fail(q, 'must list LoRA target modules');
        return x.map((t, i) => {
          const s = r.string(t, [...q, i]);
          if (!(LORA_TARGETS as readonly string[]).includes(s)) throw r.fail([...q, i], `"${s}" is not one of ${LORA_TARGETS.join(', ')}`);
          return s as LoraTarget;
        });
      },
      defaults.lora.targets,
    );
    // PEFT's rule of thumb the CLI follows too: alpha = 2·rank unless given
    lora = { rank, alpha: r.opt(l, 'alpha', ['lora'], (x, q) => r.number(x, q, 'positive'), l.rank != null ? 2 * rank : defaults.lora.alpha), targets };
  }

  let merge: MergeSpec | null = null;
  if (o.merge != null) {
    const m = r.object(o.merge, ['merge']);
    r.keys(m, ['merge'], ['method', 't', 'sweep']);
    const method = r.opt(m, 'method', ['merge'], (x, q) => r.string(x, q), 'slerp');
    if (method !== 'slerp') throw r.fail(['merge', 'method'], `must be slerp (the study's merge with the original model), got "${method}"`);
    if (m.t === undefined) throw r.fail(['merge', 't'], 'is missing');
    const sweep = r.opt(
      m,
      'sweep',
      ['merge'],
      (x, q) => {
        if (!Array.isArray(x)) throw r.fail(q, `must be a list of t values in [0, 1], got ${JSON.stringify(x)}`);
        const ts = x.map((v, i) => r.number(v, [...q, i], 'unit'));
        const twice = ts.findIndex((t, i) => ts.indexOf(t) !== i);
        if (twice >= 0) throw r.fail([...q, twice], `repeats t = ${ts[twice]} (each sweep point is one merge and one folder)`);
        return ts;
      },
      [] as number[],
    );
    merge = { method: 'slerp', t: readT(r, m.t, ['merge', 't']), sweep };
  }

  let benchmark: BenchmarkSpec | null = null;
  if (o.benchmark != null) {
    const b = r.object(o.benchmark, ['benchmark']);
    r.keys(b, ['benchmark'], ['file', 'limit']);
    benchmark = { file: r.string(b.file, ['benchmark', 'file']), limit: r.opt(b, 'limit', ['benchmark'], (x, q) => r.number(x, q, 'int+'), null as number | null) };
  }

  let perplexity: PerplexitySpec | null = null;
  if (o.perplexity != null) {
    const p = r.object(o.perplexity, ['perplexity']);
    r.keys(p, ['perplexity'], ['file', 'limit']);
    perplexity = { file: r.string(p.file, ['perplexity', 'file']), limit: r.opt(p, 'limit', ['perplexity'], (x, q) => r.number(x, q, 'int+'), null as number | null) };
  }

  return {
    name: r.opt(o, 'name', [], (x, q) => r.string(x, q), 'recipe'),
    seed: r.opt(o, 'seed', [], (x, q) => r.number(x, q, 'count'), defaults.seed),
    seqLen: r.opt(o, 'seq_len', [], (x, q) => r.number(x, q, 'int+'), defaults.seqLen),
    lora,
    stages,
    merge,
    benchmark,
    perplexity,
  };
}

/** The 1-based line of the node at `path` in a parsed document, when it has one. */
export function lineFinder(doc: Document.Parsed, lines: LineCounter): (path: Path) => number | undefined {
  return (path) => {
    for (let n = path.length; n >= 0; n--) {
      const sub = path.slice(0, n);
      // a key's own line is where its pair starts; for a missing key, the closest present parent
      const parent = sub.length ? doc.getIn(sub.slice(0, -1), true) : doc.contents;
      if (sub.length && isMap(parent)) {
        const pair = parent.items.find((it) => isScalar(it.key) && it.key.value === sub.at(-1));
        const at = (pair?.key as { range?: [number, number] } | undefined)?.range?.[0];
        if (at !== undefined) return lines.linePos(at).line;
        continue;
      }
      const node = sub.length ? doc.getIn(sub, true) : doc.contents;
      const at = (node as { range?: [number, number] } | null | undefined)?.range?.[0];
      if (at !== undefined) return lines.linePos(at).line;
    }
    return undefined;
  };
}

export function parseRecipeYaml(text: string, defaults: RecipeDefaults, file = 'recipe.yaml'): Recipe {
  const { doc, lines } = parseYamlDocument(text, file);
  return readRecipe(doc.toJS(), defaults, file, lineFinder(doc, lines));
}

/** The recipe as YAML in the format parseRecipeYaml reads (every value written out). */
export function recipeToYaml(r: Recipe): string {
  const t = (x: TSetting) => (typeof x === 'number' || Array.isArray(x) ? x : { ...(x.selfAttn !== undefined ? { self_attn: x.selfAttn } : {}), ...(x.mlp !== undefined ? { mlp: x.mlp } : {}), default: x.default });
  const doc = {
    name: r.name,
    seed: r.seed,
    seq_len: r.seqLen,
    lora: { rank: r.lora.rank, alpha: r.lora.alpha, targets: r.lora.targets },
    stages: r.stages.map((s) => ({
      name: s.name,
      method: s.method,
      ...(s.mode === 'full' ? { mode: 'full' } : {}),
      data: s.data,
      ...(s.steps !== null ? { steps: s.steps } : { epochs: s.epochs }),
      ...(s.rows !== null ? { rows: s.rows } : {}),
      lr: s.lr,
      schedule: s.schedule,
      ...(s.warmupSteps !== null ? { warmup_steps: s.warmupSteps } : { warmup_ratio: s.warmupRatio }),
      micro_batch: s.microBatch,
      accum: s.accum,
      weight_decay: s.weightDecay,
      max_grad_norm: s.maxGradNorm,
      ...(takesParam(s.method, 'beta') ? { beta: s.beta } : {}),
      ...(takesParam(s.method, 'labelSmoothing') ? { label_smoothing: s.labelSmoothing } : {}),
      ...(s.seqLen !== null ? { seq_len: s.seqLen } : {}),
    })),
    ...(r.merge ? { merge: { method: r.merge.method, t: t(r.merge.t), ...(r.merge.sweep.length ? { sweep: r.merge.sweep } : {}) } } : {}),
    ...(r.benchmark ? { benchmark: { file: r.benchmark.file, ...(r.benchmark.limit !== null ? { limit: r.benchmark.limit } : {}) } } : {}),
    ...(r.perplexity ? { perplexity: { file: r.perplexity.file, ...(r.perplexity.limit !== null ? { limit: r.perplexity.limit } : {}) } } : {}),
  };
  return stringify(doc, { flowCollectionPadding: false });
}

/**
 * Optimizer steps of a stage for `units` training units (rows, or pairs for DPO/ORPO), times `scale`
 * (the CLI's --steps-scale; at least one step).
 */
export function stageSteps(s: StageSpec, units: number, scale = 1): number {
  const base = s.steps ?? Math.ceil(((s.epochs ?? 1) * units) / (Math.min(s.microBatch, units) * s.accum));
  return Math.max(1, Math.round(base * scale));
}

/** Warm-up steps of a stage that runs `steps` optimizer steps (HF: ceil(ratio · steps) unless given as steps). */
export function stageWarmup(s: StageSpec, steps: number): number {
  return Math.min(steps, s.warmupSteps ?? Math.ceil(s.warmupRatio * steps));
}
