/**
 * A recipe as a folder that runs unchanged on a GPU cluster (TRL + PEFT + accelerate/DeepSpeed ZeRO-3, mergekit,
 * lm-evaluation-harness), and that folder read back as the recipe: importCluster(exportCluster(r)) = r.
 *
 *   README.md                                   what to install, how to run, what maps to what
 *   run.sh                                      every stage, fold, merge, evaluation, in order
 *   alloy-export.json                           what TRL cannot hold (names, order, data sources, rows) for the import
 *   recipes/accelerate_configs/deepspeed_zero3.yaml
 *   recipes/<recipe>/<stage>/config_lora.yaml   one TRL config per stage (alignment-handbook layout; trl-stage.ts)
 *   recipes/<recipe>/slerp/mergekit.yaml        the merge with the original (mergekit's `models:` form)
 *   recipes/<recipe>/slerp-t<t>/mergekit.yaml   one more merge per t of merge.sweep (the same two models, scalar t)
 *   data/<stage>/train.jsonl                    each stage's rows in the TRL shape it trains on
 *   eval/<task>.yaml, eval/<task>.jsonl         the benchmark as an lm-eval multiple_choice task (acc, acc_norm)
 *   eval/<text>-perplexity.yaml, ….jsonl        the perplexity text as an lm-eval loglikelihood_rolling task
 *   scripts/fold_lora.py, scripts/orpo.py       the LoRA fold; ORPO's launcher (TRL 1.x has no `trl orpo`)
 *
 * Stage k trains on the model stage k−1 left (outputs/<CPT-SFT…>), saves its adapter under outputs/adapters/…, and
 * run.sh folds it into outputs/<…>, the names `alloy recipe` gives the same variants.
 */
import { AlloyError } from '../../common/errors.ts';
import { parseBenchmark } from '../../io/benchmarks/load.ts';
import { readDataset } from '../../io/datasets/shapes.ts';
import { parseYamlDocument } from '../../io/yaml.ts';
import { contextOf } from '../eval/multiple-choice.ts';
import { parseMergeYaml, toMergeYaml, type MergeConfig } from '../merge/config.ts';
import { FOLD_LORA_PY, ORPO_PY, README_VERSIONS, ZERO3_ACCELERATE_YAML } from './cluster-files.ts';
import { tParameter, tSettingOf } from './merge-step.ts';
import { RECIPE_DEFAULTS } from './presets.ts';
import { lineFinder, readRecipe, recipeToYaml, type Recipe, type StageSpec, type TSetting } from './spec.ts';
import { TRANSFORMERS_COMMIT, TRL_COMMAND, TRL_COMMIT, TRL_VERSION } from './trl-fields.ts';
import { TRL_MAPPING, readTrlStage, stageMode, stageToTrlYaml, type TrlStageRead } from './trl-stage.ts';
import { recipeVariants } from './variants.ts';
import type { Method } from '../../common/training-data.ts';

export interface ExportFile {
  /** relative, "/"-separated */
  path: string;
  text: string;
}

export const MANIFEST = 'alloy-export.json';
export const ACCELERATE_CONFIG = 'recipes/accelerate_configs/deepspeed_zero3.yaml';

export interface ClusterExportOptions {
  recipe: Recipe;
  /** what the cluster loads as the original model: a Hugging Face Hub id or a path there */
  baseModel: string;
  /** a data or benchmark path of the recipe → its text (the CLI reads files, the studio fetches from the site) */
  readText: (path: string) => Promise<string>;
}

/** The manifest's shape (version 1). */
interface Manifest {
  alloy_export: 1;
  trl_version: string;
  name: string;
  seq_len: number;
  base_model: string;
  stages: { name: string; method: Method; config: string; data: string; rows: number | null; seq_len: number | null }[];
  /** sweep: one mergekit YAML per t of merge.sweep, in the recipe's order (absent in folders written before sweeps) */
  merge: { config: string; sweep?: { t: number; config: string }[] } | null;
  benchmark: EvalEntry | null;
  /** absent in folders written before perplexity */
  perplexity?: EvalEntry | null;
}

/** An lm-eval task of the export: the recipe's file and limit, the task's name, its YAML and its data. */
interface EvalEntry {
  file: string;
  limit: number | null;
  task: string;
  config: string;
  data: string;
}

const MANIFEST_KEYS = ['alloy_export', 'trl_version', 'name', 'seq_len', 'base_model', 'stages', 'merge', 'benchmark', 'perplexity'];

/** A folder- and task-safe name: lower case, runs of other characters as one "-". */
export function slug(s: string): string {
  return (
    s
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 60) || 'recipe'
  );
}

function stageConfigPath(recipeSlug: string, s: StageSpec): string {
  return `recipes/${recipeSlug}/${s.name}/config_${stageMode(s)}.yaml`;
}

/** The merge as mergekit reads it: the study's one slice over every layer, in `models:` form (mergekit's own normalisation). */
export function clusterMergeConfig(recipe: Recipe, original: string, tuned: string, t: TSetting = recipe.merge!.t): MergeConfig {
  return { mergeMethod: 'slerp', models: [{ model: tuned }, { model: original }], baseModel: original, parameters: { t: tParameter(t) } };
}

/** A sweep merge's folder: "slerp-t0.25". */
const sweepFolder = (t: number) => `slerp-t${t}`;

/** The recipe's lm-eval name for a file: "demo/village/general.jsonl" → general. */
const fileSlug = (file: string) => slug(file.split('/').at(-1)!.replace(/\.[^.]+$/, ''));

const jsonl = (rows: readonly unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

/** Every file of the export folder, in a stable order. */
export async function exportCluster(o: ClusterExportOptions): Promise<ExportFile[]> {
  const { recipe } = o;
  if (o.baseModel.trim() === '') throw new AlloyError('the export needs the base model the cluster loads (a Hugging Face Hub id or a path there)', { field: 'model' });
  const rs = slug(recipe.name);
  const variants = recipeVariants(recipe, 'base');
  const modelOf = (i: number) => (i === 0 ? o.baseModel : `outputs/${variants[i]!.name}`);
  const files: ExportFile[] = [];
  const manifest: Manifest = { alloy_export: 1, trl_version: TRL_VERSION, name: recipe.name, seq_len: recipe.seqLen, base_model: o.baseModel, stages: [], merge: null, benchmark: null, perplexity: null };

  for (const [i, s] of recipe.stages.entries()) {
    const ds = readDataset(await o.readText(s.data), s.data, { method: s.method });
    const rows = (s.rows === null ? ds.rows : ds.rows.slice(0, s.rows)).map((r) => r.value);
    files.push({ path: `data/${s.name}/train.jsonl`, text: jsonl(rows) });
    const config = stageConfigPath(rs, s);
    // a LoRA stage saves its adapter (run.sh folds it into outputs/<variant>); a full stage saves the model itself
    const outputDir = stageMode(s) === 'lora' ? `outputs/adapters/${variants[i + 1]!.name}` : `outputs/${variants[i + 1]!.name}`;
    files.push({ path: config, text: stageToTrlYaml(recipe, s, { model: modelOf(i), dataset: `data/${s.name}`, outputDir }) });
    manifest.stages.push({ name: s.name, method: s.method, config, data: s.data, rows: s.rows, seq_len: s.seqLen });
  }

  if (recipe.merge) {
    const config = `recipes/${rs}/slerp/mergekit.yaml`;
    const tuned = `outputs/${variants[recipe.stages.length]!.name}`;
    const yaml = toMergeYaml(clusterMergeConfig(recipe, o.baseModel, tuned));
    files.push({ path: config, text: `# SLERP of the recipe's last model with the original (t = 0: ${o.baseModel}), as Alloy's merge step.\n${yaml}` });
    const sweep = recipe.merge.sweep.map((t) => {
      const path = `recipes/${rs}/${sweepFolder(t)}/mergekit.yaml`;
      const text = toMergeYaml(clusterMergeConfig(recipe, o.baseModel, tuned, t));
      files.push({ path, text: `# The recipe's t-sweep at t = ${t}: the same SLERP of the last model with the original (t = 0: ${o.baseModel}).\n${text}` });
      return { t, config: path };
    });
    manifest.merge = { config, sweep };
  }

  if (recipe.benchmark) {
    const b = parseBenchmark(await o.readText(recipe.benchmark.file), recipe.benchmark.file);
    if (b.kind !== 'multiple-choice') throw new AlloyError(`${recipe.benchmark.file}: the recipe's benchmark must be multiple-choice, this file is ${b.kind}`, { file: recipe.benchmark.file });
    const name = fileSlug(recipe.benchmark.file);
    const task = `alloy_${name.replace(/-/g, '_')}`;
    const data = `eval/${name}.jsonl`;
    // query = the exact context Alloy scores the choices after (engine/eval: "Question: …\nAnswer:" or the item's own)
    files.push({ path: data, text: jsonl(b.items.map((it) => ({ query: contextOf(it), choices: it.choices, answer: it.answer, ...(it.category !== undefined ? { category: it.category } : {}) }))) });
    const config = `eval/${name}.yaml`;
    files.push({ path: config, text: lmEvalTask(task, data, recipe.benchmark.file) });
    manifest.benchmark = { file: recipe.benchmark.file, limit: recipe.benchmark.limit, task, config, data };
  }

  if (recipe.perplexity) {
    const { file, limit } = recipe.perplexity;
    const b = parseBenchmark(await o.readText(file), file);
    if (b.kind !== 'perplexity') throw new AlloyError(`${file}: the recipe's perplexity text must be .txt or JSONL {text}, this file is ${b.kind}`, { file, field: 'perplexity' });
    const name = `${fileSlug(file)}-perplexity`;
    const task = `alloy_${name.replace(/-/g, '_')}`;
    const data = `eval/${name}.jsonl`;
    // every document as it is (a .txt file is one document); --limit takes the first N, as the recipe's limit
    files.push({ path: data, text: jsonl(b.docs.map((d) => ({ text: d.text, ...(d.category !== undefined ? { category: d.category } : {}) }))) });
    const config = `eval/${name}.yaml`;
    files.push({ path: config, text: lmEvalPerplexityTask(task, data, file) });
    manifest.perplexity = { file, limit, task, config, data };
  }

  files.push({ path: ACCELERATE_CONFIG, text: ZERO3_ACCELERATE_YAML });
  files.push({ path: 'scripts/fold_lora.py', text: FOLD_LORA_PY });
  if (recipe.stages.some((s) => TRL_COMMAND[s.method] === 'orpo')) files.push({ path: 'scripts/orpo.py', text: ORPO_PY });
  files.push({ path: 'run.sh', text: runScript(recipe, manifest) });
  files.push({ path: 'README.md', text: readme(recipe, manifest) });
  files.push({ path: MANIFEST, text: JSON.stringify(manifest, null, 2) + '\n' });
  return files;
}

/** lm-eval's multiple_choice task over the exported items: the choices scored after `query` with " " between, acc and acc_norm. */
function lmEvalTask(task: string, data: string, source: string): string {
  return `# ${source} as an lm-evaluation-harness task, scored as Alloy scores it (engine/eval): every choice's summed
# log-probability after the item's context with lm-eval's target_delimiter " "; acc = argmax, acc_norm = argmax of
# log-probability / length of the choice.
task: ${task}
dataset_path: json
dataset_kwargs:
  data_files:
    test: ${data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{query}}"
doc_to_choice: choices
doc_to_target: answer
target_delimiter: " "
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
`;
}

/**
 * lm-eval's loglikelihood_rolling task over the held-out documents, as its wikitext task: the whole document is the
 * target, scored in disjoint rolling windows of the model's length; word_perplexity, byte_perplexity and
 * bits_per_byte from the summed log-likelihood, words = len(re.split(r"\s+", text)), bytes = UTF-8 bytes, summed
 * over documents before dividing. Alloy's engine/eval/perplexity.ts computes the same three the same way.
 */
function lmEvalPerplexityTask(task: string, data: string, source: string): string {
  return `# ${source} as an lm-evaluation-harness perplexity task (as lm-eval's wikitext): each document scored whole in
# disjoint rolling windows of the model's length, as Alloy scores it (engine/eval/perplexity.ts). word_perplexity =
# exp(-sum loglikelihood / sum words), words = len(re.split(r"\\s+", text)); byte_perplexity and bits_per_byte over
# UTF-8 bytes; sums over all documents before dividing.
task: ${task}
dataset_path: json
dataset_kwargs:
  data_files:
    test: ${data}
test_split: test
output_type: loglikelihood_rolling
doc_to_text: ""
doc_to_target: text
metric_list:
  - metric: word_perplexity
  - metric: byte_perplexity
  - metric: bits_per_byte
metadata:
  version: 1.0
`;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function runScript(recipe: Recipe, m: Manifest): string {
  const variants = recipeVariants(recipe, 'base');
  const lines = [
    '#!/usr/bin/env bash',
    `# ${recipe.name}: exported by Alloy for TRL ${TRL_VERSION}. Trains every stage with TRL on all GPUs of this machine`,
    '# (DeepSpeed ZeRO-3), folds each LoRA into its model, SLERP-merges with mergekit, scores every variant with',
    '# lm-evaluation-harness. Run from anywhere: bash run.sh   (NUM_GPUS=4 bash run.sh to choose the GPU count)',
    'set -euo pipefail',
    'cd "$(dirname "$0")"',
    'NUM_GPUS="${NUM_GPUS:-$(nvidia-smi -L | wc -l)}"',
    `ACCELERATE_CONFIG=${ACCELERATE_CONFIG}`,
    'mkdir -p outputs results',
    '',
  ];
  m.stages.forEach((s, i) => {
    const v = variants[i + 1]!;
    const cmd = TRL_COMMAND[s.method];
    lines.push(`# stage ${i + 1}: ${s.name} (${s.method}${s.method === 'cpt' ? ': SFT on {text} rows, every token scored' : ''})`);
    if (cmd === 'orpo') lines.push(`accelerate launch --config_file "$ACCELERATE_CONFIG" --num_processes "$NUM_GPUS" scripts/orpo.py --config ${s.config}`);
    else lines.push(`trl ${cmd} --config ${s.config} --accelerate_config "$ACCELERATE_CONFIG" --num_processes "$NUM_GPUS"`);
    if (stageMode(recipe.stages[i]!) === 'lora') lines.push(`python scripts/fold_lora.py outputs/adapters/${v.name} outputs/${v.name}`);
    lines.push('');
  });
  if (m.merge) {
    const merged = variants[recipe.stages.length + 1]!;
    lines.push('# the merge: SLERP with the original model', `mergekit-yaml ${m.merge.config} outputs/${merged.name}`, '');
    const sweep = m.merge.sweep ?? [];
    if (sweep.length) {
      lines.push(`# the t-sweep: the same merge at t = ${sweep.map((s) => s.t).join(', ')}`);
      for (const s of sweep) lines.push(`mergekit-yaml ${s.config} outputs/${variants.find((v) => v.t === s.t)!.name}`);
      lines.push('');
    }
  }
  if (m.benchmark || m.perplexity) {
    const models = [m.base_model, ...variants.slice(1).map((v) => `outputs/${v.name}`)];
    lines.push('# every variant: the original, after each stage, merged, each sweep merge', `MODELS=(${models.map(q).join(' ')})`, '');
  }
  if (m.benchmark) {
    lines.push(
      '# every variant on the benchmark (add_bos_token: Alloy encodes with the tokenizer\'s own special tokens)',
      'for MODEL in "${MODELS[@]}"; do',
      `  lm_eval --model hf --model_args "pretrained=$MODEL,add_bos_token=True" --include_path eval --tasks ${m.benchmark.task} \\`,
      `    --batch_size 8 --output_path "results/$(basename "$MODEL")"${m.benchmark.limit !== null ? ` --limit ${m.benchmark.limit}` : ''}`,
      'done',
      '',
    );
  }
  if (m.perplexity) {
    lines.push(
      '# every variant\'s perplexity on the held-out text (add_bos_token=False: the text is encoded without special tokens,',
      '# BOS only as the first window\'s context, as Alloy and lm-eval\'s wikitext do)',
      'for MODEL in "${MODELS[@]}"; do',
      `  lm_eval --model hf --model_args "pretrained=$MODEL,add_bos_token=False" --include_path eval --tasks ${m.perplexity.task} \\`,
      `    --batch_size 8 --output_path "results/$(basename "$MODEL")"${m.perplexity.limit !== null ? ` --limit ${m.perplexity.limit}` : ''}`,
      'done',
      '',
    );
  }
  return lines.join('\n');
}

/**
 * Where mergekit's versions differ for this merge: mergekit ≥ 0.1.2 reads the final norm and lm_head's t at the start
 * of a gradient, Alloy (and mergekit ≤ 0.1.1) at its end (merge/params.ts). Only a gradient that reaches those
 * tensors (t itself, or the filters' default, as a list) tells the two apart.
 */
function postWeightsNote(recipe: Recipe): string {
  const t = recipe.merge!.t;
  const outer = typeof t === 'number' || Array.isArray(t) ? t : t.default;
  if (!Array.isArray(outer) || outer.length < 2 || outer[0] === outer.at(-1)) return '';
  return ` Its t is a gradient that reaches the final norm and lm_head: Alloy gives them the last anchor (${outer.at(-1)}), as mergekit ≤ 0.1.1 does; mergekit ≥ 0.1.2 gives them the first (${outer[0]}), so pin \`mergekit<0.1.2\` for Alloy's merge exactly.`;
}

function sweepNote(m: Manifest): string {
  const sweep = m.merge?.sweep ?? [];
  if (!sweep.length) return '';
  return ` The recipe's t-sweep (merge.sweep) is one more mergekit YAML per t, the same two models with a scalar t: ${sweep.map((s) => `\`${s.config}\` (t = ${s.t})`).join(', ')}; each merged model is a variant run.sh scores like the others.`;
}

/** How lm-eval's perplexity task relates to what Alloy reports (per token and per word). */
function perplexitySection(): string {
  return `## Perplexity

| lm-eval (\`loglikelihood_rolling\`) | Alloy | difference |
|---|---|---|
| \`word_perplexity\` | perplexity per word | the same: exp(−Σ log-likelihood / Σ words), words = \`len(re.split(r"\\s+", text))\`, summed over the documents before dividing |
| \`byte_perplexity\`, \`bits_per_byte\` | perplexity per byte, bits per byte | the same, over UTF-8 bytes |
| (none) | perplexity per token | exp(−Σ log-likelihood / Σ tokens) = word_perplexity^(Σ words / Σ tokens), tokens = the documents encoded without special tokens; it depends on the tokenizer, so compare it only within one model family |
| \`--limit N\` | perplexity.limit | the first N documents |

Both split each document into disjoint rolling windows of the model's length (lm-eval reads it from the model
config's max_position_embeddings, as Alloy does), the first conditioned on BOS (EOS where the tokenizer has no BOS),
every token predicted once; run.sh passes \`add_bos_token=False\` so the text itself is encoded without special
tokens, as Alloy encodes it. What does not map exactly: the cluster computes in the checkpoint's dtype (bf16),
Alloy in f32, so the numbers agree to that precision, not bit for bit; a document's \`category\` is kept in the data
but lm-eval reports only the totals.

`;
}

function readme(recipe: Recipe, m: Manifest): string {
  const pins = Object.entries(README_VERSIONS).map(([k, v]) => `"${k}${v}"`).join(' ');
  const stageRows = m.stages.map((s, i) => `| ${i + 1} | ${s.name} | ${s.method} | \`${TRL_COMMAND[s.method] === 'orpo' ? 'scripts/orpo.py' : `trl ${TRL_COMMAND[s.method]}`}\` | \`${s.config}\` | \`data/${s.name}/train.jsonl\` (from ${s.data}${s.rows !== null ? `, first ${s.rows} rows` : ''}) |`);
  const mapRows = TRL_MAPPING.map((f) => `| \`${f.trl}\` | ${f.alloy}${f.commands ? ` (${f.commands.join(', ')} only)` : ''} | ${f.note ?? ''} |`);
  return `# ${recipe.name} — on a GPU cluster

Exported by Alloy. This folder runs the recipe with Hugging Face TRL (every stage), PEFT (LoRA, folded in between
stages), accelerate + DeepSpeed ZeRO-3 (all GPUs of one machine), mergekit (the SLERP merge) and
lm-evaluation-harness (the benchmark, scored as Alloy scores it). Nothing here needs Alloy.

## Install

\`\`\`bash
pip install ${pins}
\`\`\`

The stage configs use only the config fields of TRL ${TRL_VERSION} (read from huggingface/trl at ${TRL_COMMIT.slice(0, 7)}) and
transformers 5 (TrainingArguments at ${TRANSFORMERS_COMMIT.slice(0, 7)}); TRL's parser refuses any other key.

## Run

\`\`\`bash
bash run.sh              # all GPUs of this machine
NUM_GPUS=4 bash run.sh   # or a chosen count
\`\`\`

The base model is \`${m.base_model}\`: to start from another one, replace it in the first stage's config and in the merge
config (e.g. \`grep -rl '${m.base_model}' recipes run.sh | xargs sed -i 's#${m.base_model}#NEW/MODEL#g'\`).

| # | stage | method | command | config | data |
|---|---|---|---|---|---|
${stageRows.join('\n')}

Each LoRA stage saves its adapter to \`outputs/adapters/<variant>\`; \`scripts/fold_lora.py\` folds it into
\`outputs/<variant>\` (a full stage saves the model there itself), which the next stage trains on.${m.merge ? ` Then \`mergekit-yaml ${m.merge.config}\` SLERPs the last model with the original.${postWeightsNote(recipe)}${sweepNote(m)}` : ''}${
    m.benchmark
      ? ` Then lm-eval scores every variant on \`${m.benchmark.task}\` (\`${m.benchmark.config}\`, items in \`${m.benchmark.data}\`, from ${m.benchmark.file}${m.benchmark.limit !== null ? `, the first ${m.benchmark.limit}` : ''}): acc and acc_norm, as Alloy's benchmark (acc_norm divides by the choice's length in characters, Alloy by its UTF-8 bytes: the same for ASCII).`
      : ''
  }${m.perplexity ? ` Then lm-eval scores every variant's perplexity on \`${m.perplexity.task}\` (\`${m.perplexity.config}\`, documents in \`${m.perplexity.data}\`, from ${m.perplexity.file}${m.perplexity.limit !== null ? `, the first ${m.perplexity.limit}` : ''}; see Perplexity below).` : ''}

## What maps to what

| TRL key | Alloy recipe | difference |
|---|---|---|
${mapRows.join('\n')}

Also: cpt and sft both run \`trl sft\` (cpt's rows are \`{text}\`, every token scored; sft's are prompt/completion, the
completion scored); dpo and ipo run \`trl dpo\` with loss_type sigmoid / ipo (both reference = the model with the
adapter off, as TRL does for PEFT models); orpo runs \`scripts/orpo.py\` (ORPOTrainer, in trl.experimental in TRL 1.x).
On N GPUs every optimizer step sees N times the rows it sees in Alloy; divide gradient_accumulation_steps by N (or
per_device_train_batch_size) to keep the global batch.

${m.perplexity ? perplexitySection() : ''}\`alloy-export.json\` lets Alloy read this folder back (\`alloy recipe --recipe <folder>\`); TRL does not read it.
`;
}

export interface ImportedRecipe {
  recipe: Recipe;
  /** every key TRL would refuse and every setting that did not carry over, "file: what" */
  warnings: string[];
  /** the base model the configs name (the first stage's model_name_or_path) */
  baseModel: string | null;
}

function parseYaml(text: string, file: string): { value: unknown; lineOf: (p: (string | number)[]) => number | undefined } {
  const { doc, lines } = parseYamlDocument(text, file);
  return { value: doc.toJS(), lineOf: lineFinder(doc, lines) };
}

/** Recipe-wide values (seed, LoRA) from the stages: the first (LoRA) stage's, a warning for each stage that differs. */
function recipeWide(reads: { read: TrlStageRead; file: string }[], warnings: string[]): { seed: number; lora: TrlStageRead['lora'] } {
  const first = reads[0]!.read;
  const loras = reads.filter((r) => r.read.mode === 'lora');
  const lora = (loras[0] ?? reads[0]!).read.lora;
  for (const { read, file } of reads.slice(1)) {
    if (read.seed !== first.seed) warnings.push(`${file}: seed ${read.seed} differs from the first stage's ${first.seed}; the recipe has one seed (${first.seed})`);
  }
  for (const { read, file } of loras.slice(1)) {
    const a = read.lora;
    if (a.rank !== lora.rank || a.alpha !== lora.alpha || a.targets.join() !== lora.targets.join())
      warnings.push(`${file}: LoRA r ${a.rank}, alpha ${a.alpha}, targets ${a.targets.join(',')} differ from the first LoRA stage's; the recipe has one LoRA (that one)`);
  }
  return { seed: first.seed, lora };
}

function toRecipe(source: Record<string, unknown>, file: string): Recipe {
  return readRecipe(source, RECIPE_DEFAULTS, file);
}

const tJson = (t: TSetting) => (typeof t === 'number' || Array.isArray(t) ? t : { ...(t.selfAttn !== undefined ? { self_attn: t.selfAttn } : {}), ...(t.mlp !== undefined ? { mlp: t.mlp } : {}), default: t.default });

/** A mergekit YAML's SLERP t (the recipe's merge), with mergekit's own warnings; refused unless it is a slerp whose t a recipe can hold. */
function readSlerpYaml(text: string, file: string): { t: TSetting; warnings: string[] } {
  const { config, warnings } = parseMergeYaml(text, file);
  if (config.mergeMethod !== 'slerp') throw new AlloyError(`${file}: merge_method ${config.mergeMethod}: the recipe's merge is slerp`, { file, field: 'merge_method' });
  const t = config.parameters?.t !== undefined ? tSettingOf(config.parameters.t) : null;
  if (t === null) throw new AlloyError(`${file}: parameters.t is not a recipe's t (a number, anchors, or self_attn / mlp / default filters)`, { file, field: 'parameters.t' });
  return { t, warnings: warnings.map((w) => `${file}: ${w}`) };
}

/**
 * A mergekit SLERP YAML as the recipe's merge: its t replaces the recipe's (the recipe's t-sweep stays). Its two models do not carry over (the
 * recipe always merges its last stage's model with the original, t = 0 the original), which the warnings say.
 */
export function mergeYamlIntoRecipe(recipe: Recipe, text: string, file: string): ImportedRecipe {
  const { t, warnings } = readSlerpYaml(text, file);
  warnings.push(`${file}: the merge's models are not carried over: the recipe merges its last stage's model with the original (t = 0), with this t`);
  // the recipe's own t-sweep stays (a mergekit YAML is one merge, it says nothing of a sweep)
  const sweep = recipe.merge?.sweep ?? [];
  const merged = readRecipe({ ...JSON.parse(JSON.stringify(sourceOf(recipe))), merge: { method: 'slerp', t: tJson(t), ...(sweep.length ? { sweep } : {}) } }, RECIPE_DEFAULTS, file);
  return { recipe: merged, warnings, baseModel: null };
}

/** A Recipe back as the source readRecipe takes (recipeToYaml's object, without the YAML text). */
function sourceOf(recipe: Recipe): unknown {
  return parseYamlDocument(recipeToYaml(recipe), 'recipe').doc.toJS();
}

/** The folder exportCluster wrote (its manifest, stage configs, merge config) as the recipe. */
export async function importCluster(readText: (path: string) => Promise<string>): Promise<ImportedRecipe> {
  let m: Manifest;
  try {
    m = JSON.parse(await readText(MANIFEST)) as Manifest;
  } catch (e) {
    throw new AlloyError(`${MANIFEST}: ${e instanceof AlloyError ? e.message : `not valid JSON (${(e as Error).message})`}`, { file: MANIFEST });
  }
  if (m.alloy_export !== 1 || !Array.isArray(m.stages) || m.stages.length === 0) throw new AlloyError(`${MANIFEST}: not an Alloy cluster export (version 1) with stages`, { file: MANIFEST });
  const warnings: string[] = [];
  const unknown = Object.keys(m).filter((k) => !MANIFEST_KEYS.includes(k));
  if (unknown.length) warnings.push(`${MANIFEST}: unknown keys ignored: ${unknown.join(', ')}`);
  const reads: { read: TrlStageRead; file: string; entry: Manifest['stages'][number] }[] = [];
  for (const entry of m.stages) {
    const { value, lineOf } = parseYaml(await readText(entry.config), entry.config);
    const read = readTrlStage(value, { file: entry.config, method: entry.method, lineOf });
    warnings.push(...read.warnings.map((w) => `${entry.config}: ${w}`));
    reads.push({ read, file: entry.config, entry });
  }
  const { seed, lora } = recipeWide(reads, warnings);
  const stages = reads.map(({ read, entry }) => ({
    name: entry.name,
    method: read.method,
    data: entry.data,
    ...(entry.rows !== null ? { rows: entry.rows } : {}),
    ...read.stage,
    // the stage's own seq_len where it had one or where the YAML's max_length now differs from the recipe's
    ...(entry.seq_len !== null || read.maxLength !== m.seq_len ? { seq_len: read.maxLength } : {}),
  }));
  let merge: Record<string, unknown> | undefined;
  if (m.merge) {
    const read = readSlerpYaml(await readText(m.merge.config), m.merge.config);
    warnings.push(...read.warnings);
    const sweep: number[] = [];
    for (const entry of m.merge.sweep ?? []) {
      const point = readSlerpYaml(await readText(entry.config), entry.config);
      warnings.push(...point.warnings);
      // the sweep is scalar t values: a gradient here has no place in the recipe
      if (typeof point.t !== 'number') throw new AlloyError(`${entry.config}: parameters.t must be one number (a t-sweep merge), got ${JSON.stringify(tJson(point.t))}`, { file: entry.config, field: 'parameters.t' });
      if (point.t !== entry.t) warnings.push(`${entry.config}: t ${point.t} replaces the sweep's ${entry.t} (the YAML's t is what the cluster merges with)`);
      sweep.push(point.t);
    }
    merge = { method: 'slerp', t: tJson(read.t), ...(sweep.length ? { sweep } : {}) };
  }
  const recipe = toRecipe(
    {
      name: m.name,
      seed,
      seq_len: m.seq_len,
      lora,
      stages,
      ...(merge ? { merge } : {}),
      ...(m.benchmark ? { benchmark: { file: m.benchmark.file, ...(m.benchmark.limit !== null ? { limit: m.benchmark.limit } : {}) } } : {}),
      ...(m.perplexity ? { perplexity: { file: m.perplexity.file, ...(m.perplexity.limit !== null ? { limit: m.perplexity.limit } : {}) } } : {}),
    },
    MANIFEST,
  );
  return { recipe, warnings, baseModel: reads[0]!.read.model };
}

/**
 * One TRL / alignment-handbook stage config as a one-stage recipe. The stage's data is dataset_name: a file as it
 * is, a folder as <folder>/<dataset_train_split>.jsonl (how `datasets` finds a local split); a Hub dataset has to be
 * saved as JSONL first (the message says so).
 */
export function importTrlStageYaml(text: string, file: string, opts: { method?: Method } = {}): ImportedRecipe {
  const { value, lineOf } = parseYaml(text, file);
  if (typeof value === 'object' && value !== null && 'stages' in value) throw new AlloyError(`${file}: this is an Alloy recipe (it has stages), not a TRL stage config`, { file });
  const read = readTrlStage(value, { file, ...(opts.method ? { method: opts.method } : {}), lineOf });
  const warnings = read.warnings.map((w) => `${file}: ${w}`);
  if (!read.dataset) throw new AlloyError(`${file}: dataset_name is missing: the recipe trains a stage on one local dataset file`, { file, field: 'dataset_name' });
  const split = typeof (value as Record<string, unknown>).dataset_train_split === 'string' ? ((value as Record<string, unknown>).dataset_train_split as string) : 'train';
  const data = /\.(jsonl|json|csv|txt)$/i.test(read.dataset) ? read.dataset : `${read.dataset.replace(/\/+$/, '')}/${split}.jsonl`;
  if (data !== read.dataset) warnings.push(`${file}: dataset_name ${read.dataset} read as the local file ${data} (a Hub dataset must be saved there as JSONL first)`);
  const name = read.method.toUpperCase();
  const recipe = toRecipe({ name: file.split(/[\\/]/).at(-1)!.replace(/\.ya?ml$/i, ''), seed: read.seed, seq_len: read.maxLength, lora: read.lora, stages: [{ name, method: read.method, data, ...read.stage }] }, file);
  return { recipe, warnings, baseModel: read.model };
}
