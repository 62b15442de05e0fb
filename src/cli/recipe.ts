/**
 * `alloy recipe --model DIR (--recipe RECIPE.yaml | --demo | --preset demo|study) --out DIR [--steps-scale X] [--limit N] [--json]`
 * The study's pipeline scripted (engine/recipe): each stage trains a LoRA and folds it in, the final model is
 * SLERP-merged with the original (and once per t of a t-sweep), every variant is benchmarked and scored for
 * perplexity on held-out text, and the merge's synergy reported. Prints a progress line per step, stage, merge decile
 * and variant (on stderr), then a table (variant, accuracy, acc_norm, 95% Wilson CI, n, perplexity per token and per
 * word) and the synergy line, or with --json results.json's object (per variant its parents, scores, perplexity; the
 * synergy verdict). --steps-scale multiplies every stage's steps (at least one remains); --limit scores only the first N
 * benchmark items. Writes under --out (which must be new or empty):
 *   <CPT>/, <CPT-SFT>/, …, <…-SLERP>/   each variant as a Hugging Face folder (the merge with its mergekit_config.yml)
 *   adapters/<CPT>/, …                  each stage's PEFT adapter
 *   recipe.yaml                         the recipe as run (every value written out)
 *   results.json                        stages (loss per step), every variant's parents, scores, per-item results and
 *                                       perplexity, synergy
 * Data paths in a recipe are relative to its folder; a path not found there is looked up in the studio's public/
 * folder, where the demo data lives (so a copied demo recipe runs anywhere). --demo uses public/ only.
 * --recipe also takes a TRL / alignment-handbook stage config (a one-stage recipe) or a folder --export wrote; what
 * does not carry over is named on stderr.
 *
 * `alloy recipe --export DIR --model HUB_ID (--recipe …|--demo|--preset …)` trains nothing: it writes the recipe as
 * a folder that runs on a GPU cluster with TRL, accelerate/DeepSpeed, mergekit and lm-eval (cluster-export.ts).
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AlloyError, isCancelled } from '../common/errors.ts';
import { dirModelFiles } from '../io/node/dir-model-files.ts';
import { fileSink } from '../io/node/fs.ts';
import { acquireNodeDevice } from '../engine/gpu/node-gpu.ts';
import { BufferPool } from '../engine/gpu/buffer-pool.ts';
import { KernelRegistry } from '../engine/gpu/kernels.ts';
import { gpuSlerpAccelerator, isSoftwareAdapter } from '../engine/merge/gpu-slerp.ts';
import { parseRecipeYaml, type Recipe } from '../engine/recipe/spec.ts';
import { exportCluster, importCluster, importTrlStageYaml, MANIFEST } from '../engine/recipe/cluster-export.ts';
import { parseYamlDocument } from '../io/yaml.ts';
import { PRESETS, presetRecipe, RECIPE_DEFAULTS, type PresetName } from '../engine/recipe/presets.ts';
import { recipeVariants, runRecipe, type RecipeEvent, type RecipeSummary } from '../engine/recipe/runner.ts';
import { synergyLine } from '../engine/recipe/summary.ts';
import { isPaired } from '../engine/train/objectives.ts';
import type { VariantStore } from '../engine/recipe/variants.ts';

export type RecipeArgs = Partial<Record<'model' | 'recipe' | 'out' | 'steps-scale' | 'preset' | 'limit' | 'export', string>> & { demo?: boolean; json?: boolean };

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

/** The studio's public/ folder (demo data, benchmarks), from this file's place in the repository. */
export function publicDir(): string {
  try {
    const here = dirname(fileURLToPath(import.meta.url));
    const p = resolve(here, '../../public');
    if (existsSync(p)) return p;
  } catch {
    // not a file: URL (bundled); fall through
  }
  return resolve(process.cwd(), 'public');
}

/** Each output as a directory under `out`; an output that fails or is cancelled is removed. */
function dirStore(out: string): VariantStore {
  return {
    async create(spec) {
      const dir = join(out, ...spec.name.split('/'));
      if (existsSync(dir)) rmSync(dir, { recursive: true });
      mkdirSync(dir, { recursive: true });
      return {
        openSink: (name) => fileSink(join(dir, name)),
        commit: async () => dirModelFiles(dir, spec.label),
        abort: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  };
}

/**
 * The recipe to run or export: --demo, --preset, or --recipe PATH where PATH is an Alloy recipe YAML, a TRL /
 * alignment-handbook stage config (a one-stage recipe) or a folder `--export` wrote (read back through its
 * alloy-export.json). Import warnings (keys TRL would refuse, settings that do not carry over) go to `warn`.
 */
async function loadRecipe(v: RecipeArgs, warn: (s: string) => void): Promise<{ recipe: Recipe; roots: string[] }> {
  const pub = publicDir();
  const chosen = [v.recipe !== undefined, v.demo === true, v.preset !== undefined].filter(Boolean).length;
  if (chosen !== 1) throw new AlloyError('give one of --recipe RECIPE.yaml, --demo or --preset demo|study (--recipe also takes a TRL stage config or a folder --export wrote)');
  if (v.demo) return { recipe: presetRecipe('demo'), roots: [pub] };
  if (v.preset !== undefined) {
    if (!(v.preset in PRESETS)) throw new AlloyError(`--preset must be one of ${Object.keys(PRESETS).join(', ')}, got "${v.preset}"`);
    return { recipe: presetRecipe(v.preset as PresetName), roots: [pub] };
  }
  const file = v.recipe!;
  if (existsSync(file) && statSync(file).isDirectory()) {
    if (!existsSync(join(file, MANIFEST))) throw new AlloyError(`${file} is a folder without ${MANIFEST}: give an Alloy recipe YAML, a TRL stage config or a folder that alloy recipe --export wrote`, { file });
    const r = await importCluster((p) => readFile(join(file, p), 'utf8'));
    for (const w of r.warnings) warn(`alloy: ${file.replace(/\/?$/, '/')}${w}\n`);
    return { recipe: r.recipe, roots: [resolve(file), pub] };
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new AlloyError(`cannot read recipe ${file}`, { file });
  }
  const value: unknown = parseYamlDocument(text, file).doc.toJS();
  if (typeof value === 'object' && value !== null && !('stages' in value)) {
    // no stages: a TRL / alignment-handbook stage config (the folder names the trainer: recipes/<model>/sft/…)
    const r = importTrlStageYaml(text, file);
    for (const w of r.warnings) warn(`alloy: ${w}\n`);
    // TRL resolves dataset_name from where it runs (the export's run.sh: its own folder)
    return { recipe: r.recipe, roots: [process.cwd(), dirname(resolve(file)), pub] };
  }
  return { recipe: parseRecipeYaml(text, RECIPE_DEFAULTS, basename(file)), roots: [dirname(resolve(file)), pub] };
}

/** A recipe data path → its text, looked up under each root in turn. */
function rootReader(roots: string[]): (path: string) => Promise<string> {
  return async (path) => {
    const candidates = isAbsolute(path) ? [path] : roots.map((r) => join(r, path));
    const hit = candidates.find((p) => existsSync(p));
    if (!hit) throw new AlloyError(`recipe data ${path} not found (looked in ${candidates.join(', ')})`, { file: path });
    return readFile(hit, 'utf8');
  };
}

/**
 * `alloy recipe --export DIR --model ID (--recipe …|--demo|--preset …)`: the recipe as a folder for a GPU cluster
 * (engine/recipe/cluster-export.ts): TRL stage configs, data, accelerate ZeRO-3 config, mergekit YAML, lm-eval task,
 * run.sh and README.md. --model is what the cluster loads as the original model (a Hub id or a path there).
 */
async function exportCmd(v: RecipeArgs, io: Io): Promise<number> {
  const out = resolve(v.export!);
  if (v.out !== undefined || v['steps-scale'] !== undefined) throw new AlloyError('--export writes a folder for a cluster and runs nothing: leave out --out and --steps-scale');
  if (!v.model) throw new AlloyError('--export needs --model: the base model the cluster loads (a Hugging Face Hub id such as meta-llama/Llama-3.1-8B-Instruct, or a path there)');
  if (existsSync(out) && readdirSync(out).length > 0) throw new AlloyError(`--export ${out} exists and is not empty; choose a new directory`);
  const { recipe, roots } = await loadRecipe(v, io.err);
  if (v.limit !== undefined) {
    const n = Number(v.limit);
    if (!(Number.isInteger(n) && n > 0)) throw new AlloyError(`--limit must be a whole number ≥ 1, got "${v.limit}"`);
    if (!recipe.benchmark) throw new AlloyError('--limit: the recipe has no benchmark');
    recipe.benchmark.limit = n;
  }
  const files = await exportCluster({ recipe, baseModel: v.model, readText: rootReader(roots) });
  for (const f of files) {
    const p = join(out, ...f.path.split('/'));
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, f.text);
    if (f.path.endsWith('.sh')) chmodSync(p, 0o755);
  }
  io.out(`wrote ${files.length} files to ${out}: on the cluster, install what README.md lists and run bash ${join(out, 'run.sh')}\n`);
  return 0;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const fmtLoss = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : String(x));

/** One progress line per event worth a line (benchmark items are summed up per variant). */
function progressLine(e: RecipeEvent): string | null {
  switch (e.type) {
    case 'plan':
      return `recipe "${e.recipe}": ${e.stages.map((s) => `${s.name} (${s.method}${s.mode === 'full' ? ', every parameter' : ''}, ${s.steps} steps over ${s.units} ${isPaired(s.method) ? 'pairs' : 'rows'}, lr ${s.lr})`).join(' → ')}; ${e.variants.length} variants; benchmark ${e.benchmarkItems} items; perplexity ${e.perplexityDocs} documents`;
    case 'stage-started':
      return `stage ${e.index + 1} ${e.name}: ${e.method}, ${e.steps} steps`;
    case 'step':
      return `  ${e.name} step ${e.step.step} loss ${fmtLoss(e.step.loss)} lr ${e.step.lr.toExponential(2)} grad_norm ${e.step.gradNorm.toFixed(4)} tok/s ${e.step.tokensPerSec.toFixed(0)}`;
    case 'stage-finished':
      return `stage ${e.index + 1} ${e.name} done in ${e.seconds.toFixed(1)} s: loss ${fmtLoss(e.firstLoss)} → ${fmtLoss(e.lastLoss)}; folded into ${e.variant.label}`;
    case 'merge-started':
      return `merge: SLERP of ${e.variant.label.replace(/-SLERP$/, '')} with the original → ${e.variant.label}`;
    case 'merge-progress':
      return e.done === e.total || Math.floor((10 * e.done) / e.total) !== Math.floor((10 * (e.done - 1)) / e.total) ? `  merged ${e.done}/${e.total} tensors` : null;
    case 'merge-finished':
      return `merge done: ${e.tensors} tensors in ${e.seconds.toFixed(1)} s`;
    case 'benchmark-started':
      return `scoring ${e.variant.label}: ${e.items} items`;
    case 'benchmark-item':
      return null;
    case 'benchmark-finished':
      return `  ${e.score.label}: ` + [...(e.score.acc.n ? [`acc ${pct(e.score.acc.acc)}`, `acc_norm ${pct(e.score.accNorm.acc)}`] : []), ...(e.score.perplexity ? [`perplexity ${fmtPpl(e.score.perplexity.tokenPerplexity)} per token`] : [])].join(', ');
    case 'summary':
      return null;
  }
}

const fmtPpl = (x: number) => x.toFixed(3);

/** variant | accuracy | acc_norm | 95% CI | n | perplexity (per token, per word) of the held-out text, aligned. */
export function resultsTable(s: RecipeSummary): string {
  const bench = s.benchmark !== null;
  const ppl = s.perplexity !== null;
  const rows = [['variant', ...(bench ? ['accuracy', 'acc_norm', '95% CI (acc, Wilson)', 'n'] : []), ...(ppl ? ['ppl/token', 'ppl/word'] : [])]];
  for (const v of s.variants) {
    rows.push([
      v.label,
      ...(bench ? [pct(v.acc.acc), pct(v.accNorm.acc), `${pct(v.acc.ci95.lo)}–${pct(v.acc.ci95.hi)}`, String(v.acc.n)] : []),
      ...(ppl && v.perplexity ? [fmtPpl(v.perplexity.tokenPerplexity), fmtPpl(v.perplexity.wordPerplexity)] : []),
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((x, c) => (c === 0 ? x.padEnd(widths[c]!) : x.padStart(widths[c]!))).join('  ')).join('\n') + '\n';
}

/** results.json: the summary without the Recipe object's internals duplicated. */
export function resultsJson(s: RecipeSummary): string {
  const info = new Map(recipeVariants(s.recipe, s.base).map((v) => [v.id, v]));
  const label = new Map(s.variants.map((v) => [v.id, v.label]));
  return JSON.stringify(
    {
      recipe: s.recipe.name,
      base: s.base,
      steps_scale: s.stepsScale,
      seconds: s.seconds,
      stages: s.stages.map((st) => ({
        name: st.name,
        method: st.method,
        steps: st.steps,
        model: st.variant.name,
        adapter: st.adapterName,
        seconds: st.seconds,
        loss: st.losses,
        history: st.history,
      })),
      merge: s.merge ? { model: s.merge.variant.name, mergekit_config: s.merge.configYaml } : null,
      benchmark: s.benchmark,
      perplexity: s.perplexity,
      variants: s.variants.map((v) => ({
        id: v.id,
        label: v.label,
        kind: v.kind,
        parents: (info.get(v.id)?.parents ?? []).map((id) => label.get(id) ?? id),
        ...(v.t !== undefined ? { t: v.t } : {}),
        benchmark: s.benchmark?.file ?? null,
        n: v.acc.n,
        accuracy: v.acc.acc,
        accuracy_stderr: v.acc.stderr,
        accuracy_ci95: [v.acc.ci95.lo, v.acc.ci95.hi],
        acc_norm: v.accNorm.acc,
        acc_norm_stderr: v.accNorm.stderr,
        acc_norm_ci95: [v.accNorm.ci95.lo, v.accNorm.ci95.hi],
        perplexity: v.perplexity
          ? {
              docs: v.perplexity.n,
              tokens: v.perplexity.tokens,
              token_perplexity: v.perplexity.tokenPerplexity,
              word_perplexity: v.perplexity.wordPerplexity,
              byte_perplexity: v.perplexity.bytePerplexity,
              bits_per_byte: v.perplexity.bitsPerByte,
            }
          : null,
        items: v.items,
      })),
      synergy: s.synergy
        ? Object.fromEntries(
            (['acc', 'accNorm'] as const).map((k) => {
              const x = s.synergy![k];
              return [
                x.metric,
                {
                  merged: x.synergy.bars.find((b) => b.kind === 'merge')!.score,
                  parents: x.synergy.bars.filter((b) => b.kind === 'parent').map((b) => ({ id: b.id, label: b.label, score: b.score })),
                  parents_mean: x.synergy.parentMean,
                  over_parents: x.synergy.overParents,
                  over_mean: x.synergy.overMean,
                  synergistic: x.synergy.synergistic,
                  baseline: x.baselineId,
                  relative_to_baseline: x.relative,
                },
              ];
            }),
          )
        : null,
    },
    null,
    2,
  ) + '\n';
}

export async function recipeCmd(v: RecipeArgs, io: Io, signal?: AbortSignal): Promise<number> {
  if (v.export !== undefined) return exportCmd(v, io);
  const modelDir = v.model;
  if (!modelDir) throw new AlloyError('--model is required');
  const outArg = v.out;
  if (!outArg) throw new AlloyError('--out is required');
  const out = resolve(outArg);
  if (existsSync(out) && readdirSync(out).length > 0) throw new AlloyError(`--out ${out} exists and is not empty; choose a new directory`);
  const scale = v['steps-scale'] === undefined ? 1 : Number(v['steps-scale']);
  if (!(Number.isFinite(scale) && scale > 0)) throw new AlloyError(`--steps-scale must be a number > 0, got "${v['steps-scale']}"`);
  const { recipe, roots } = await loadRecipe(v, io.err);
  if (v.limit !== undefined) {
    const n = Number(v.limit);
    if (!(Number.isInteger(n) && n > 0)) throw new AlloyError(`--limit must be a whole number ≥ 1, got "${v.limit}"`);
    if (!recipe.benchmark) throw new AlloyError('--limit: the recipe has no benchmark');
    recipe.benchmark.limit = n;
  }
  const base = dirModelFiles(modelDir, modelDir);
  const readText = rootReader(roots);

  const ctx = await acquireNodeDevice();
  const pool = new BufferPool(ctx.device);
  const kernels = new KernelRegistry(ctx.device);
  // As `alloy merge --device auto`: SLERP of big tensors on a real GPU; on a software adapter the CPU path is faster.
  const accel = isSoftwareAdapter(ctx) ? undefined : gpuSlerpAccelerator(ctx);
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  signal?.addEventListener('abort', onSignal, { once: true });
  if (signal?.aborted) abort.abort();
  mkdirSync(out, { recursive: true });
  try {
    const { summary } = await runRecipe({
      recipe,
      base,
      baseLabel: basename(resolve(modelDir)) === 'main' ? basename(resolve(modelDir, '../..')) : basename(resolve(modelDir)),
      gpu: { ctx, pool, kernels },
      readText,
      store: dirStore(out),
      stepsScale: scale,
      // folder paths, so `alloy merge <out>/…-SLERP/mergekit_config.yml` reruns the merge
      mergeRefs: { original: resolve(modelDir), tuned: join(out, recipeVariants(recipe, 'x').filter((x) => x.kind === 'stage').at(-1)?.name ?? '') },
      ...(accel ? { accelerator: accel } : {}),
      signal: abort.signal,
      onEvent: (e) => {
        const line = progressLine(e);
        if (line !== null) io.err(line + '\n');
      },
    });
    writeFileSync(join(out, 'recipe.yaml'), summary.recipeYaml);
    const json = resultsJson(summary);
    writeFileSync(join(out, 'results.json'), json);
    if (v.json) {
      io.out(json);
      return 0;
    }
    if (summary.variants.length) io.out(resultsTable(summary));
    if (summary.synergy) {
      io.out(synergyLine(summary.synergy.acc) + '\n');
      io.out(synergyLine(summary.synergy.accNorm) + '\n');
    }
    io.out(`wrote ${summary.stages.length} stage models, their adapters${summary.merge ? ', the merge' : ''} and results.json to ${out} in ${summary.seconds.toFixed(1)} s\n`);
    return 0;
  } catch (e) {
    if (isCancelled(e)) {
      io.err(`alloy: recipe cancelled; finished outputs stay in ${out}\n`);
      return 130;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    signal?.removeEventListener('abort', onSignal);
    accel?.pool.destroyAll();
    pool.destroyAll();
  }
}
