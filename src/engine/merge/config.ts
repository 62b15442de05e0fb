/**
 * mergekit YAML merge configurations (mergekit/config.py::MergeConfiguration), in and out.
 * Import validates every field and names the line of the offending node; export writes the keys in mergekit's
 * order with anchor lists in flow style (as mergekit's ConfigYamlDumper does), so the YAML of any merge made here
 * can be rerun with `mergekit-yaml` unchanged. import → export → import gives an equal config.
 */
import { Document, isNode, isSeq, visit, type LineCounter } from 'yaml';
import { AlloyError } from '../../common/errors.ts';
import { parseYamlDocument } from '../../io/yaml.ts';
import { isCondition, type Condition, type ParameterSetting, type Parameters } from './params.ts';
import type { ParamScalar } from './methods/types.ts';

export interface SourceSpec {
  model: string;
  /** [start, end) */
  layerRange: [number, number];
  parameters?: Parameters;
}

export interface SliceSpec {
  sources: SourceSpec[];
  /** mergekit lets a slice override base_model */
  baseModel?: string;
  parameters?: Parameters;
}

export interface ModelSpec {
  model: string;
  parameters?: Parameters;
}

export interface TokenizerSpec {
  source: string;
  tokens?: Record<string, unknown>;
  padToMultipleOf?: number;
}

export interface MergeConfig {
  mergeMethod: string;
  /** exactly one of models / slices */
  models?: ModelSpec[];
  slices?: SliceSpec[];
  baseModel?: string;
  parameters?: Parameters;
  dtype?: string;
  outDtype?: string;
  tokenizerSource?: string;
  tokenizer?: TokenizerSpec;
  chatTemplate?: string;
}

export interface ParsedMergeConfig {
  config: MergeConfig;
  /** keys mergekit would ignore (pydantic drops extras); shown so typos are not silent */
  warnings: string[];
}

export const DTYPE_NAMES = ['float32', 'float16', 'bfloat16'] as const;
export type DtypeName = (typeof DTYPE_NAMES)[number];

/** mergekit's dtype_from_name for the float types a checkpoint stores ("torch." prefix allowed). */
export function dtypeName(s: string): DtypeName | undefined {
  const n = s.startsWith('torch.') ? s.slice(6) : s;
  return (DTYPE_NAMES as readonly string[]).includes(n) ? (n as DtypeName) : undefined;
}

/** A model reference: `path` or `path+lora_path` (mergekit's ModelReference.parse splits on "+"). */
export function parseModelRef(ref: string): { model: string; lora?: string } {
  const parts = ref.split('+');
  if (parts.length === 1) return { model: ref };
  if (parts.length === 2 && parts[0] && parts[1]) return { model: parts[0], lora: parts[1] };
  throw new AlloyError(`model reference "${ref}" is not "path" or "path+lora_path"`, { field: 'model' });
}

type Path = (string | number)[];

class Validator {
  readonly warnings: string[] = [];
  constructor(
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
    private readonly file: string,
  ) {}

  fail(path: Path, msg: string): AlloyError {
    const node = path.length === 0 ? this.doc.contents : this.doc.getIn(path, true);
    const field = path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '');
    let line: number | undefined;
    if (isNode(node) && node.range) line = this.lines.linePos(node.range[0]).line;
    else if (path.length > 0) {
      // a missing key: point at its parent mapping
      const parent = this.doc.getIn(path.slice(0, -1), true);
      if (isNode(parent) && parent.range) line = this.lines.linePos(parent.range[0]).line;
    }
    const at = line !== undefined ? `${this.file}:${line}: ` : `${this.file}: `;
    return new AlloyError(`${at}${field ? `${field} ` : ''}${msg}`, { file: this.file, field: field || undefined, line });
  }

  object(v: unknown, path: Path): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw this.fail(path, `must be a mapping, got ${show(v)}`);
    return v as Record<string, unknown>;
  }

  keys(o: Record<string, unknown>, path: Path, known: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (!known.includes(k)) {
        const where = path.length ? `${path.join('.')}.` : '';
        this.warnings.push(`unknown key "${where}${k}" ignored (known: ${known.join(', ')})`);
      }
    }
  }

  string(v: unknown, path: Path): string {
    if (typeof v !== 'string' || v === '') throw this.fail(path, `must be a non-empty string, got ${show(v)}`);
    return v;
  }

  optString(o: Record<string, unknown>, key: string, path: Path): string | undefined {
    return o[key] === undefined || o[key] === null ? undefined : this.string(o[key], [...path, key]);
  }

  list(v: unknown, path: Path): unknown[] {
    if (!Array.isArray(v)) throw this.fail(path, `must be a list, got ${show(v)}`);
    return v;
  }

  scalar(v: unknown, path: Path): ParamScalar {
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (typeof v === 'boolean' || typeof v === 'string') return v;
    throw this.fail(path, `must be a number, boolean or string, got ${show(v)}`);
  }

  scalarOrList(v: unknown, path: Path): ParamScalar | ParamScalar[] {
    if (Array.isArray(v)) {
      if (v.length === 0) throw this.fail(path, 'is an empty list');
      return v.map((e, i) => this.scalar(e, [...path, i]));
    }
    return this.scalar(v, path);
  }

  condition(v: unknown, path: Path): Condition {
    const o = this.object(v, path);
    this.keys(o, path, ['filter', 'value']);
    if (!('value' in o)) throw this.fail(path, 'has no "value"');
    const filter = o.filter === undefined || o.filter === null ? undefined : this.string(o.filter, [...path, 'filter']);
    const value = this.scalarOrList(o.value, [...path, 'value']);
    return filter === undefined ? { value } : { filter, value };
  }

  setting(v: unknown, path: Path): ParameterSetting {
    if (Array.isArray(v) && v.length > 0 && v.some((e) => typeof e === 'object' && e !== null)) {
      return v.map((e, i) => this.condition(e, [...path, i]));
    }
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return this.condition(v, path);
    return this.scalarOrList(v, path);
  }

  parameters(v: unknown, path: Path): Parameters | undefined {
    if (v === undefined || v === null) return undefined;
    const o = this.object(v, path);
    const out: Parameters = {};
    for (const [k, s] of Object.entries(o)) out[k] = this.setting(s, [...path, k]);
    return out;
  }

  layerRange(v: unknown, path: Path): [number, number] {
    const l = this.list(v, path);
    if (l.length !== 2 || !l.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
      throw this.fail(path, `must be [start, end] with non-negative integers, got ${show(v)}`);
    }
    const [a, b] = l as [number, number];
    if (b <= a) throw this.fail(path, `[${a}, ${b}] is empty: end must be greater than start`);
    return [a, b];
  }

  dtype(o: Record<string, unknown>, key: string): string | undefined {
    const s = this.optString(o, key, []);
    if (s !== undefined && !dtypeName(s)) throw this.fail([key], `"${s}" is not one of ${DTYPE_NAMES.join(', ')}`);
    return s;
  }
}

function show(v: unknown): string {
  return v === undefined ? 'nothing' : JSON.stringify(v);
}

const TOP_KEYS = ['models', 'slices', 'modules', 'merge_method', 'base_model', 'parameters', 'dtype', 'out_dtype', 'tokenizer_source', 'tokenizer', 'chat_template'] as const;

export function parseMergeYaml(text: string, file = 'config.yml'): ParsedMergeConfig {
  const { doc, lines } = parseYamlDocument(text, file);
  const v = new Validator(doc, lines, file);
  const root = v.object(doc.toJS(), []);
  v.keys(root, [], TOP_KEYS);
  if (root.modules !== undefined) throw v.fail(['modules'], 'is not supported (use models or slices)');
  const hasModels = root.models !== undefined && root.models !== null;
  const hasSlices = root.slices !== undefined && root.slices !== null;
  if (hasModels === hasSlices) throw v.fail([], "must have exactly one of 'models' or 'slices'");
  if (root.merge_method === undefined) throw v.fail(['merge_method'], 'is missing');
  const config: MergeConfig = { mergeMethod: v.string(root.merge_method, ['merge_method']) };

  if (hasModels) {
    const list = v.list(root.models, ['models']);
    if (list.length === 0) throw v.fail(['models'], 'lists no models');
    config.models = list.map((m, i) => {
      const o = v.object(m, ['models', i]);
      v.keys(o, ['models', i], ['model', 'parameters']);
      const spec: ModelSpec = { model: v.string(o.model, ['models', i, 'model']) };
      const parameters = v.parameters(o.parameters, ['models', i, 'parameters']);
      if (parameters) spec.parameters = parameters;
      return spec;
    });
  } else {
    const list = v.list(root.slices, ['slices']);
    if (list.length === 0) throw v.fail(['slices'], 'lists no slices');
    config.slices = list.map((s, i) => {
      const o = v.object(s, ['slices', i]);
      v.keys(o, ['slices', i], ['sources', 'base_model', 'parameters']);
      const sources = v.list(o.sources, ['slices', i, 'sources']);
      if (sources.length === 0) throw v.fail(['slices', i, 'sources'], 'lists no sources');
      const slice: SliceSpec = {
        sources: sources.map((src, j) => {
          const p: Path = ['slices', i, 'sources', j];
          const so = v.object(src, p);
          v.keys(so, p, ['model', 'layer_range', 'parameters']);
          const spec: SourceSpec = { model: v.string(so.model, [...p, 'model']), layerRange: v.layerRange(so.layer_range, [...p, 'layer_range']) };
          const parameters = v.parameters(so.parameters, [...p, 'parameters']);
          if (parameters) spec.parameters = parameters;
          return spec;
        }),
      };
      const lengths = slice.sources.map((x) => x.layerRange[1] - x.layerRange[0]);
      if (!lengths.every((n) => n === lengths[0])) {
        throw v.fail(['slices', i, 'sources'], `must all have the same number of layers, got ${lengths.join(', ')}`);
      }
      const base = v.optString(o, 'base_model', ['slices', i]);
      if (base) slice.baseModel = base;
      const parameters = v.parameters(o.parameters, ['slices', i, 'parameters']);
      if (parameters) slice.parameters = parameters;
      return slice;
    });
  }
  const base = v.optString(root, 'base_model', []);
  if (base) config.baseModel = base;
  const parameters = v.parameters(root.parameters, ['parameters']);
  if (parameters) config.parameters = parameters;
  const dtype = v.dtype(root, 'dtype');
  if (dtype) config.dtype = dtype;
  const outDtype = v.dtype(root, 'out_dtype');
  if (outDtype) config.outDtype = outDtype;
  const tokSource = v.optString(root, 'tokenizer_source', []);
  if (root.tokenizer !== undefined && root.tokenizer !== null) {
    if (tokSource) throw v.fail(['tokenizer'], 'and tokenizer_source cannot both be given');
    const o = v.object(root.tokenizer, ['tokenizer']);
    v.keys(o, ['tokenizer'], ['source', 'tokens', 'pad_to_multiple_of']);
    const tok: TokenizerSpec = { source: v.string(o.source, ['tokenizer', 'source']) };
    if (o.tokens !== undefined && o.tokens !== null) tok.tokens = v.object(o.tokens, ['tokenizer', 'tokens']);
    if (o.pad_to_multiple_of !== undefined && o.pad_to_multiple_of !== null) {
      const n = o.pad_to_multiple_of;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0) throw v.fail(['tokenizer', 'pad_to_multiple_of'], `must be a positive integer, got ${show(n)}`);
      tok.padToMultipleOf = n;
    }
    config.tokenizer = tok;
  }
  if (tokSource) config.tokenizerSource = tokSource;
  const chat = v.optString(root, 'chat_template', []);
  if (chat) config.chatTemplate = chat;
  return { config, warnings: v.warnings };
}

function settingToJson(s: ParameterSetting): unknown {
  if (Array.isArray(s)) return (s as unknown[]).map((e) => (isCondition(e) ? conditionToJson(e) : e));
  if (isCondition(s)) return conditionToJson(s);
  return s;
}

function conditionToJson(c: Condition): Record<string, unknown> {
  return c.filter === undefined || c.filter === null ? { value: c.value } : { filter: c.filter, value: c.value };
}

function paramsToJson(p: Parameters): Record<string, unknown> {
  return Object.fromEntries(Object.entries(p).map(([k, s]) => [k, settingToJson(s)]));
}

/** The config as a plain object with mergekit's key names (what mergekit's to_yaml dumps). */
export function mergeConfigToJson(c: MergeConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const withParams = <T extends Record<string, unknown>>(o: T, p?: Parameters) => (p ? { ...o, parameters: paramsToJson(p) } : o);
  if (c.slices) {
    out.slices = c.slices.map((s) => {
      const o: Record<string, unknown> = {
        sources: s.sources.map((src) => withParams({ model: src.model, layer_range: [...src.layerRange] }, src.parameters)),
      };
      if (s.baseModel) o.base_model = s.baseModel;
      return withParams(o, s.parameters);
    });
  }
  if (c.models) out.models = c.models.map((m) => withParams({ model: m.model }, m.parameters));
  out.merge_method = c.mergeMethod;
  if (c.baseModel) out.base_model = c.baseModel;
  if (c.dtype) out.dtype = c.dtype;
  if (c.tokenizerSource) out.tokenizer_source = c.tokenizerSource;
  if (c.tokenizer) {
    const t: Record<string, unknown> = { source: c.tokenizer.source };
    if (c.tokenizer.tokens) t.tokens = c.tokenizer.tokens;
    if (c.tokenizer.padToMultipleOf) t.pad_to_multiple_of = c.tokenizer.padToMultipleOf;
    out.tokenizer = t;
  }
  if (c.chatTemplate) out.chat_template = c.chatTemplate;
  if (c.outDtype) out.out_dtype = c.outDtype;
  if (c.parameters) out.parameters = paramsToJson(c.parameters);
  return out;
}

export function toMergeYaml(c: MergeConfig): string {
  const doc = new Document(mergeConfigToJson(c));
  // mergekit dumps lists of numbers in flow style ([0, 0.5, 1]) and everything else in block style.
  visit(doc, {
    Seq(_key, node) {
      if (isSeq(node) && node.items.every((i) => isNode(i) && 'value' in i && typeof (i as { value: unknown }).value === 'number')) node.flow = true;
    },
  });
  return doc.toString({ lineWidth: 0 });
}
