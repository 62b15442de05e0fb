// The cluster hand-off (engine/recipe/cluster-export.ts, trl-stage.ts, trl-fields.ts): every key the export writes is
// a documented TRL field of the command that reads it; the demo recipe's export equals the golden folder checked in
// under tests/engine/recipe/golden/cluster-demo (regenerate: UPDATE_GOLDEN=1 npx vitest run --project unit
// tests/engine/recipe/cluster-export.test.ts); import(export(recipe)) = recipe; TRL / alignment-handbook YAMLs read
// with every unknown key and every setting that does not carry over named.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { exportCluster, importCluster, importTrlStageYaml, type ExportFile } from '../../../src/engine/recipe/cluster-export.ts';
import { tParameter, tSettingOf } from '../../../src/engine/recipe/merge-step.ts';
import { demoRecipe, RECIPE_DEFAULTS, studyRecipe } from '../../../src/engine/recipe/presets.ts';
import { readRecipe, type Recipe } from '../../../src/engine/recipe/spec.ts';
import { TRL_COMMAND, TRL_FIELDS, trlOwnerOf, trlOwners } from '../../../src/engine/recipe/trl-fields.ts';
import { TRL_MAPPING, yamlKeys } from '../../../src/engine/recipe/trl-stage.ts';
import { contextOf } from '../../../src/engine/eval/multiple-choice.ts';
import { parseBenchmark } from '../../../src/io/benchmarks/load.ts';
import { AlloyError } from '../../../src/common/errors.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const PUBLIC = join(ROOT, 'public');
const GOLDEN = join(ROOT, 'tests/engine/recipe/golden/cluster-demo');
/** what the golden export names as the base model (any Hub id: the export writes it as given) */
const BASE = 'HuggingFaceTB/SmolLM2-135M-Instruct';

const readPublic = async (p: string) => readFileSync(join(PUBLIC, p), 'utf8');
const reader = (files: ExportFile[]) => {
  const m = new Map(files.map((f) => [f.path, f.text]));
  return async (p: string) => {
    const t = m.get(p);
    if (t === undefined) throw new AlloyError(`${p}: not in the export`);
    return t;
  };
};

/**
 * Every stage setting the mapping has, across methods: dpo with cDPO ε, ipo, epochs, warm-up steps, own seq_len, rows,
 * a scalar t with a two-point sweep, a benchmark and a one-document perplexity text (.txt) each with a limit.
 */
function everyBranchRecipe(): Recipe {
  return readRecipe(
    {
      name: 'every branch',
      seed: 7,
      seq_len: 48,
      lora: { rank: 4, alpha: 12, targets: ['q_proj', 'v_proj', 'down_proj'] },
      stages: [
        { method: 'cpt', data: 'demo/data/corpus.txt', epochs: 2, rows: 5, lr: 1e-5, schedule: 'cosine', warmup_ratio: 0.25, micro_batch: 2, accum: 3, weight_decay: 0.01, max_grad_norm: 0.5 },
        { name: 'chat', method: 'sft', data: 'demo/data/sft-chat.jsonl', steps: 7, lr: 2e-4, schedule: 'constant', warmup_steps: 2, seq_len: 96 },
        { method: 'dpo', data: 'demo/data/preference.jsonl', steps: 3, lr: 5e-7, schedule: 'linear', beta: 0.2, label_smoothing: 0.1, seq_len: 48 },
        { method: 'ipo', data: 'demo/data/preference.jsonl', epochs: 0.5, lr: 1e-6, beta: 0.3 },
      ],
      merge: { method: 'slerp', t: 0.35, sweep: [0.9, 0.1] },
      benchmark: { file: 'benchmarks/materials-bio-mc.jsonl', limit: 12 },
      perplexity: { file: 'demo/data/validation.txt', limit: 1 },
    },
    RECIPE_DEFAULTS,
    'every-branch',
  );
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p).split('\\').join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

describe('TRL field table', () => {
  it('every exported stage key is a field of the dataclasses its command parses', async () => {
    let checked = 0;
    for (const recipe of [demoRecipe(), studyRecipe(), everyBranchRecipe()]) {
      const files = await exportCluster({ recipe, baseModel: BASE, readText: readPublic });
      for (const s of recipe.stages) {
        const f = files.find((x) => x.path.endsWith(`/${s.name}/config_lora.yaml`))!;
        const keys = yamlKeys(f.text);
        expect(keys.length).toBeGreaterThan(15);
        // the YAML parses to exactly those keys (no key hidden in a comment or a nested block)
        expect(Object.keys(parse(f.text) as object)).toEqual(keys);
        for (const k of keys) {
          expect(trlOwnerOf(TRL_COMMAND[s.method], k), `${f.path}: ${k}`).not.toBeNull();
          checked++;
        }
      }
    }
    console.log(`checked ${checked} exported keys against the TRL field table`);
  });

  it('every key of the mapping is a TRL field of every command it is written for', () => {
    for (const m of TRL_MAPPING) for (const cmd of m.commands ?? (['sft', 'dpo', 'orpo'] as const)) expect(trlOwnerOf(cmd, m.trl), `${m.trl} in ${cmd}`).not.toBeNull();
    // the trainer-only fields stay with their trainer: ORPO's YAML may not carry DPO's loss_type
    expect(trlOwnerOf('orpo', 'loss_type')).toBeNull();
    expect(trlOwnerOf('sft', 'beta')).toBeNull();
    expect(trlOwners('orpo')).not.toContain('TRL CLI');
    expect(TRL_FIELDS.TrainingArguments).toContain('warmup_steps');
  });
});

describe('cluster export of the demo recipe', () => {
  it('equals the golden folder (UPDATE_GOLDEN=1 rewrites it)', async () => {
    const files = await exportCluster({ recipe: demoRecipe(), baseModel: BASE, readText: readPublic });
    if (process.env.UPDATE_GOLDEN) {
      if (existsSync(GOLDEN)) rmSync(GOLDEN, { recursive: true });
      for (const f of files) {
        mkdirSync(dirname(join(GOLDEN, f.path)), { recursive: true });
        writeFileSync(join(GOLDEN, f.path), f.text);
        if (f.path.endsWith('.sh')) chmodSync(join(GOLDEN, f.path), 0o755);
      }
    }
    expect(listFiles(GOLDEN)).toEqual(files.map((f) => f.path).sort());
    for (const f of files) expect(f.text, `${f.path} differs from the golden (UPDATE_GOLDEN=1 to regenerate)`).toBe(readFileSync(join(GOLDEN, f.path), 'utf8'));
  });

  it('writes each stage in the TRL shape it trains on, and the benchmark with the context Alloy scores', async () => {
    const recipe = demoRecipe();
    const files = await exportCluster({ recipe, baseModel: BASE, readText: readPublic });
    const rows = (p: string) => files.find((f) => f.path === p)!.text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const shapes = recipe.stages.map((s) => Object.keys(rows(`data/${s.name}/train.jsonl`)[0]!).sort().join(','));
    expect(shapes).toEqual(['text', 'completion,prompt', 'chosen,prompt,rejected']);
    const b = parseBenchmark(await readPublic(recipe.benchmark!.file), recipe.benchmark!.file);
    if (b.kind !== 'multiple-choice') throw new Error('not multiple choice');
    const items = rows('eval/benchmark.jsonl');
    expect(items.length).toBe(b.items.length);
    b.items.forEach((it, i) => expect(items[i]).toMatchObject({ query: contextOf(it), choices: it.choices, answer: it.answer }));
  });

  it("says where mergekit's versions differ for the merge: only a t gradient that reaches lm_head", async () => {
    const readme = async (t: unknown) => {
      const r = readRecipe({ stages: [{ method: 'sft', data: 'demo/data/sft.jsonl' }], merge: { t } }, RECIPE_DEFAULTS, 't');
      return (await exportCluster({ recipe: r, baseModel: BASE, readText: readPublic })).find((f) => f.path === 'README.md')!.text;
    };
    expect(await readme([0, 0.4, 1])).toMatch(/Alloy gives them the last anchor \(1\), as mergekit ≤ 0\.1\.1 does; mergekit ≥ 0\.1\.2 gives them the first \(0\)/);
    expect(await readme({ mlp: [0, 1], default: [0.2, 0.6] })).toMatch(/last anchor \(0\.6\)/);
    for (const t of [0.5, { self_attn: [0, 1], default: 0.5 }, [0.3, 0.9, 0.3]]) expect(await readme(t)).not.toMatch(/pin `mergekit<0\.1\.2`/);
  });

  it('writes YAML that YAML 1.1 (PyYAML, what TRL parses with) reads as the same values', async () => {
    const files = await exportCluster({ recipe: everyBranchRecipe(), baseModel: BASE, readText: readPublic });
    for (const f of files.filter((x) => x.path.startsWith('recipes/') && x.path.endsWith('.yaml'))) expect(parse(f.text, { version: '1.1' }), f.path).toEqual(parse(f.text));
    const dpo = parse(files.find((f) => f.path.endsWith('/DPO/config_lora.yaml'))!.text, { version: '1.1' }) as Record<string, unknown>;
    expect(dpo).toMatchObject({ save_strategy: 'no', learning_rate: 5e-7, loss_type: ['sigmoid'], beta: 0.2, label_smoothing: 0.1, max_length: 48, max_steps: 3, lr_scheduler_type: 'linear' });
    const chat = parse(files.find((f) => f.path.endsWith('/chat/config_lora.yaml'))!.text) as Record<string, unknown>;
    // constant with a warm-up is transformers' constant_with_warmup; warm-up as steps
    expect(chat).toMatchObject({ lr_scheduler_type: 'constant_with_warmup', warmup_steps: 2, max_length: 96, model_name_or_path: 'outputs/CPT' });
    const cpt = parse(files.find((f) => f.path.endsWith('/CPT/config_lora.yaml'))!.text) as Record<string, unknown>;
    expect(cpt).toMatchObject({ num_train_epochs: 2, warmup_steps: 0.25, per_device_train_batch_size: 2, gradient_accumulation_steps: 3, lora_r: 4, lora_alpha: 12, seed: 7 });
    expect(cpt).not.toHaveProperty('max_steps');
    const ipo = parse(files.find((f) => f.path.endsWith('/IPO/config_lora.yaml'))!.text) as Record<string, unknown>;
    expect(ipo).toMatchObject({ loss_type: ['ipo'], beta: 0.3 });
    expect(ipo).not.toHaveProperty('label_smoothing');
    expect(files.find((f) => f.path === 'data/CPT/train.jsonl')!.text.trim().split('\n')).toHaveLength(5);
    expect(files.find((f) => f.path === 'run.sh')!.text).toContain('--limit 12');
  });
});

describe('the t-sweep and the perplexity text on the cluster', () => {
  const text = (files: ExportFile[], p: string) => files.find((f) => f.path === p)!.text;

  it('writes one mergekit YAML per sweep t (scalar t, the same two models), merged and scored by run.sh', async () => {
    const recipe = demoRecipe();
    const files = await exportCluster({ recipe, baseModel: BASE, readText: readPublic });
    const main = parse(text(files, 'recipes/demo-instruct-cpt-sft-orpo-slerp-on-sunny-hill/slerp/mergekit.yaml')) as Record<string, unknown>;
    const run = text(files, 'run.sh');
    expect(recipe.merge!.sweep).toEqual([0.25, 0.5, 0.75]);
    for (const t of recipe.merge!.sweep) {
      const y = parse(text(files, `recipes/demo-instruct-cpt-sft-orpo-slerp-on-sunny-hill/slerp-t${t}/mergekit.yaml`)) as Record<string, unknown>;
      expect(y).toEqual({ ...main, parameters: { t } });
      expect(run).toContain(`mergekit-yaml recipes/demo-instruct-cpt-sft-orpo-slerp-on-sunny-hill/slerp-t${t}/mergekit.yaml outputs/CPT-SFT-ORPO-SLERP-t${t}\n`);
      expect(run).toMatch(new RegExp(`^MODELS=\\(.* 'outputs/CPT-SFT-ORPO-SLERP-t${t}'`, 'm'));
    }
    // both evaluations loop over the same MODELS: the original, 3 stages, the merge, 3 sweep merges
    expect(run.match(/^MODELS=\((.*)\)$/m)![1]!.split(' ')).toHaveLength(8);
    expect(run.match(/for MODEL in "\$\{MODELS\[@\]\}"; do/g)).toHaveLength(2);
  });

  it('writes the held-out text as an lm-eval loglikelihood_rolling task (wikitext metrics) that run.sh runs on every variant', async () => {
    const recipe = demoRecipe();
    const files = await exportCluster({ recipe, baseModel: BASE, readText: readPublic });
    const task = parse(text(files, 'eval/general-perplexity.yaml'), { version: '1.1' }) as Record<string, unknown>;
    expect(task).toEqual({
      task: 'alloy_general_perplexity',
      dataset_path: 'json',
      dataset_kwargs: { data_files: { test: 'eval/general-perplexity.jsonl' } },
      test_split: 'test',
      output_type: 'loglikelihood_rolling',
      doc_to_text: '',
      doc_to_target: 'text',
      metric_list: [{ metric: 'word_perplexity' }, { metric: 'byte_perplexity' }, { metric: 'bits_per_byte' }],
      metadata: { version: 1 },
    });
    const b = parseBenchmark(await readPublic(recipe.perplexity!.file), recipe.perplexity!.file);
    if (b.kind !== 'perplexity') throw new Error('not perplexity text');
    const docs = text(files, 'eval/general-perplexity.jsonl').trim().split('\n').map((l) => JSON.parse(l) as { text: string });
    expect(docs.map((d) => d.text)).toEqual(b.docs.map((d) => d.text));
    const run = text(files, 'run.sh');
    expect(run).toContain('--model_args "pretrained=$MODEL,add_bos_token=False" --include_path eval --tasks alloy_general_perplexity');
    const readme = text(files, 'README.md');
    expect(readme).toMatch(/\| `word_perplexity` \| perplexity per word \| the same/);
    expect(readme).toMatch(/perplexity per token \| exp\(−Σ log-likelihood \/ Σ tokens\) = word_perplexity\^\(Σ words \/ Σ tokens\)/);
    // a .txt text is one document; its limit becomes lm-eval's --limit
    const every = await exportCluster({ recipe: everyBranchRecipe(), baseModel: BASE, readText: readPublic });
    expect(text(every, 'eval/validation-perplexity.jsonl').trim().split('\n')).toHaveLength(1);
    expect(text(every, 'run.sh')).toMatch(/--tasks alloy_validation_perplexity \\\n.* --limit 1\n/);
  });

  it('reads an edited sweep t back, refuses a gradient there, and names unknown manifest keys', async () => {
    const files = await exportCluster({ recipe: demoRecipe(), baseModel: BASE, readText: readPublic });
    const point = files.find((f) => f.path.endsWith('/slerp-t0.5/mergekit.yaml'))!;
    const original = point.text;
    point.text = original.replace('t: 0.5', 't: 0.6');
    const manifest = files.find((f) => f.path === 'alloy-export.json')!;
    manifest.text = manifest.text.replace('"alloy_export": 1,', '"alloy_export": 1,\n  "extra": true,');
    const back = await importCluster(reader(files));
    expect(back.recipe.merge!.sweep).toEqual([0.25, 0.6, 0.75]);
    expect(back.warnings).toEqual([
      'alloy-export.json: unknown keys ignored: extra',
      expect.stringMatching(/slerp-t0\.5\/mergekit\.yaml: t 0\.6 replaces the sweep's 0\.5/),
    ]);
    point.text = original.replace('t: 0.5', 't: [0, 1]');
    await expect(importCluster(reader(files))).rejects.toThrow(/slerp-t0\.5\/mergekit\.yaml: parameters\.t must be one number \(a t-sweep merge\), got \[0,1\]/);
  });

  it('reads a folder written before sweeps and perplexity (no such manifest keys) as a recipe without them', async () => {
    const files = await exportCluster({ recipe: demoRecipe(), baseModel: BASE, readText: readPublic });
    const manifest = files.find((f) => f.path === 'alloy-export.json')!;
    const m = JSON.parse(manifest.text) as Record<string, unknown> & { merge: Record<string, unknown> };
    delete m.perplexity;
    delete m.merge.sweep;
    manifest.text = JSON.stringify(m);
    const back = await importCluster(reader(files));
    expect(back.recipe).toEqual({ ...demoRecipe(), merge: { ...demoRecipe().merge!, sweep: [] }, perplexity: null });
    expect(back.warnings).toEqual([]);
  });
});

describe('a full fine-tuning stage (the spec\'s `mode: full`, when it has one)', () => {
  it('is one branch: use_peft false, no LoRA keys, the model saved as the variant, DPO with precomputed reference log-probs', async () => {
    const base = everyBranchRecipe();
    const full = { ...base, stages: base.stages.map((s) => (s.method === 'dpo' ? { ...s, mode: 'full' as const } : s)) };
    const files = await exportCluster({ recipe: full, baseModel: BASE, readText: readPublic });
    const f = files.find((x) => x.path.endsWith('/DPO/config_full.yaml'))!;
    const keys = yamlKeys(f.text);
    for (const k of keys) expect(trlOwnerOf('dpo', k), k).not.toBeNull();
    const cfg = parse(f.text) as Record<string, unknown>;
    expect(cfg).toMatchObject({ use_peft: false, precompute_ref_log_probs: true, output_dir: 'outputs/CPT-chat-DPO' });
    expect(keys.filter((k) => k.startsWith('lora_'))).toEqual([]);
    const run = files.find((x) => x.path === 'run.sh')!.text;
    expect(run).not.toContain('fold_lora.py outputs/adapters/CPT-chat-DPO ');
    expect(run).toContain('fold_lora.py outputs/adapters/CPT-chat-DPO-IPO outputs/CPT-chat-DPO-IPO');
    // the LoRA stages' YAMLs are unchanged by the full one
    const lora = await exportCluster({ recipe: base, baseModel: BASE, readText: readPublic });
    expect(files.find((x) => x.path.endsWith('/CPT/config_lora.yaml'))!.text).toBe(lora.find((x) => x.path.endsWith('/CPT/config_lora.yaml'))!.text);
  });
});

describe('import(export(recipe)) = recipe', () => {
  it.each([
    ['demo', demoRecipe],
    ['study', studyRecipe],
    ['every branch', everyBranchRecipe],
    ['every branch, DPO full', () => {
      const r = everyBranchRecipe();
      return { ...r, stages: r.stages.map((s) => (s.method === 'dpo' ? { ...s, mode: 'full' as const } : s)) };
    }],
  ])('%s', async (_name, make) => {
    const recipe = make();
    const files = await exportCluster({ recipe, baseModel: BASE, readText: readPublic });
    const back = await importCluster(reader(files));
    expect(back.recipe).toEqual(recipe);
    expect(back.warnings).toEqual([]);
    expect(back.baseModel).toBe(BASE);
  });

  it('takes an edit made on the TRL side (max_length, learning_rate) into the recipe', async () => {
    const recipe = demoRecipe();
    const files = await exportCluster({ recipe, baseModel: BASE, readText: readPublic });
    const sft = files.find((f) => f.path.endsWith('/SFT/config_lora.yaml'))!;
    sft.text = sft.text.replace('max_length: 48', 'max_length: 128').replace('learning_rate: 0.005', 'learning_rate: 1.0e-4');
    const back = await importCluster(reader(files));
    expect(back.recipe.stages[1]).toMatchObject({ seqLen: 128, lr: 1e-4 });
    expect(back.recipe.stages[0]!.seqLen).toBe(104);
    expect(back.recipe.stages[2]!.seqLen).toBeNull();
    expect(back.warnings).toEqual([]);
  });

  it('names a per-stage seed or LoRA the recipe cannot hold (one of each per recipe), keeping the first stage\'s', async () => {
    const files = await exportCluster({ recipe: demoRecipe(), baseModel: BASE, readText: readPublic });
    const orpo = files.find((f) => f.path.endsWith('/ORPO/config_lora.yaml'))!;
    orpo.text = orpo.text.replace('lora_r: 16', 'lora_r: 8').replace('seed: 42', 'seed: 7').replace('output_dir:', 'neftune_noise_alpha: 5.0\noutput_dir:');
    const back = await importCluster(reader(files));
    expect(back.recipe).toEqual(demoRecipe());
    for (const w of back.warnings) console.log(w);
    expect(back.warnings).toEqual([
      expect.stringMatching(/ORPO\/config_lora\.yaml: TRL setting with no counterpart in the recipe, not carried over: neftune_noise_alpha$/),
      expect.stringMatching(/ORPO\/config_lora\.yaml: seed 7 differs from the first stage's 42; the recipe has one seed \(42\)/),
      expect.stringMatching(/ORPO\/config_lora\.yaml: LoRA r 8, alpha 32, targets .* differ from the first LoRA stage's/),
    ]);
  });

  it('t round-trips through mergekit parameters', () => {
    for (const t of [0.5, [0, 0.3, 1], { selfAttn: [0, 1], mlp: 0.25, default: 0.5 }, { default: [0.1, 0.9] }]) expect(tSettingOf(tParameter(t))).toEqual(t);
    expect(tSettingOf([{ filter: 'embed', value: 0.5 }, { value: 1 }])).toBeNull();
    expect(tSettingOf([{ filter: 'mlp', value: 0.5 }])).toBeNull();
  });
});

describe('TRL / alignment-handbook stage YAML import', () => {
  // an alignment-handbook style QLoRA SFT recipe (handbook layout: recipes/<model>/sft/config_qlora.yaml)
  const HANDBOOK = `# Model arguments
model_name_or_path: some-org/some-7b
model_revision: main
torch_dtype: bfloat16
attn_implementation: flash_attention_2

# LoRA arguments
load_in_4bit: true
use_peft: true
lora_r: 16
lora_alpha: 16
lora_dropout: 0.05
lora_target_modules:
- q_proj
- k_proj
- v_proj
- o_proj

# Data training arguments
dataset_name: data/chat
dataset_num_proc: 12
chat_template: "{{ messages }}"

# SFT trainer config
bf16: true
gradient_accumulation_steps: 2
gradient_checkpointing: true
learning_rate: 2.0e-04
lr_scheduler_type: cosine
max_seq_length: 2048
max_steps: -1
num_train_epochs: 1
output_dir: data/some-7b-sft-qlora
overwrite_output_dir: true
per_device_train_batch_size: 4
neftune_noise_alpha: 5
seed: 42
warmup_ratio: 0.1
lora_typo: 3
beta: 0.1
`;

  it('maps the settings, takes TRL defaults for the rest and names every key that does not carry over', () => {
    const { recipe, warnings, baseModel } = importTrlStageYaml(HANDBOOK, 'recipes/some-7b/sft/config_qlora.yaml');
    for (const w of warnings) console.log(w);
    expect(baseModel).toBe('some-org/some-7b');
    expect(recipe.seqLen).toBe(2048);
    expect(recipe.lora).toEqual({ rank: 16, alpha: 16, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] });
    expect(recipe.stages).toHaveLength(1);
    expect(recipe.stages[0]).toMatchObject({ method: 'sft', data: 'data/chat/train.jsonl', epochs: 1, steps: null, lr: 2e-4, schedule: 'cosine', warmupRatio: 0.1, warmupSteps: null, microBatch: 4, accum: 2, weightDecay: 0, maxGradNorm: 1 });
    const all = warnings.join('\n');
    expect(all).toMatch(/unknown keys ignored: lora_typo \(no TRL 1\.10\.0\.dev0 config has it\), beta \(a DPOConfig field: trl sft refuses it\)/);
    expect(all).toMatch(/max_seq_length is SFTConfig's name for max_length before TRL 0\.20; read as max_length/);
    expect(all).toMatch(/torch_dtype is ModelConfig's name for dtype/);
    expect(all).toMatch(/chat_template is the alignment-handbook's chat template override/);
    expect(all).toMatch(/overwrite_output_dir is a TrainingArguments field removed in transformers 5/);
    expect(all).toMatch(/lora_dropout 0\.05 not carried over/);
    expect(all).toMatch(/load_in_4bit: true not carried over/);
    expect(all).toMatch(/with no counterpart in the recipe, not carried over: neftune_noise_alpha/);
    expect(all).toMatch(/warmup_ratio is deprecated in transformers 5/);
    expect(all).toMatch(/dataset_name data\/chat read as the local file data\/chat\/train\.jsonl/);
  });

  it('a DPO config without use_peft reads as a full stage (TRL trains every parameter then) with TRL defaults', () => {
    const { recipe } = importTrlStageYaml('model_name_or_path: m\ndataset_name: pref.jsonl\nbeta: 0.05\nmax_steps: 20\n', 'recipes/x/dpo/config_full.yaml');
    expect(recipe.stages[0]).toMatchObject({ method: 'dpo', mode: 'full', data: 'pref.jsonl', steps: 20, lr: 1e-6, schedule: 'linear', beta: 0.05, labelSmoothing: 0, microBatch: 8, warmupRatio: 0 });
    expect(recipe.seqLen).toBe(1024);
    // and back: a full stage exports as use_peft false, with no LoRA keys
    const again = importTrlStageYaml('use_peft: true\ndataset_name: p.jsonl\n', 'recipes/x/sft/config_lora.yaml');
    expect(again.recipe.stages[0]!.mode).toBe('lora');
  });

  it('ipo from loss_type; constant without warm-up drops the warm-up as transformers does', () => {
    const { recipe, warnings } = importTrlStageYaml('use_peft: true\nlora_dropout: 0\ndataset_name: p.jsonl\nloss_type: [ipo]\nlr_scheduler_type: constant\nwarmup_steps: 10\n', 'stage.yaml');
    expect(recipe.stages[0]).toMatchObject({ method: 'ipo', schedule: 'constant', warmupSteps: null, warmupRatio: 0, epochs: 3 });
    expect(warnings.join('\n')).toMatch(/constant has no warm-up in transformers/);
  });

  it('refuses what the recipe cannot train, naming file, line and key', () => {
    expect(() => importTrlStageYaml('use_peft: true\ndataset_name: d.jsonl\nlr_scheduler_type: inverse_sqrt\n', 'recipes/m/orpo/c.yaml')).toThrow(/recipes\/m\/orpo\/c\.yaml:3: lr_scheduler_type "inverse_sqrt" has no counterpart/);
    expect(() => importTrlStageYaml('dataset_name: d.jsonl\nlearning_rate: fast\n', 'recipes/m/sft/c.yaml')).toThrow(/c\.yaml:2: learning_rate must be a number, got "fast"/);
    expect(() => importTrlStageYaml('dataset_name: d.jsonl\nloss_type: [hinge]\n', 'recipes/m/dpo/c.yaml')).toThrow(/loss_type \["hinge"\] is not what the recipe's dpo trains/);
    expect(() => importTrlStageYaml('dataset_name: d.jsonl\n', 'config.yaml')).toThrow(/cannot tell which trainer/);
    expect(() => importTrlStageYaml('use_peft: true\n', 'recipes/m/sft/c.yaml')).toThrow(/dataset_name is missing/);
  });
});
