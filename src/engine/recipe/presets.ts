/**
 * The one source of truth for recipe values: the defaults a recipe may leave out, the demo recipe (the studio's
 * one-click button, `alloy recipe --demo`, the tests) and the study's own hyperparameters as a named preset.
 *
 * Data paths are relative to the site root (public/ in the repository): the studio fetches them, the CLI reads
 * them from public/ for --demo and from beside the YAML otherwise.
 */
import { TRAIN_DEFAULTS } from '../train/defaults.ts';
import { readRecipe, type Recipe, type RecipeDefaults } from './spec.ts';

/**
 * The demo's data: Sunny Hill (public/demo/village), a small original domain a 260K-parameter TinyStories model can
 * learn in minutes on a CPU (scripts/make-village.ts writes it from a fact table): stories for CPT, question →
 * answer pairs for SFT, right vs wrong answers for ORPO, a 72-item multiple-choice benchmark asked in wordings no
 * training file uses, and held-out general stories whose perplexity shows what training costs elsewhere.
 */
export const DEMO_DATA = {
  corpus: 'demo/village/corpus.txt',
  sft: 'demo/village/sft.jsonl',
  preference: 'demo/village/preference.jsonl',
  benchmark: 'demo/village/benchmark.jsonl',
  general: 'demo/village/general.jsonl',
} as const;

/** Biological materials (public/demo/data, public/benchmarks): the study's own domain, the example for real models. */
export const BIO_DATA = {
  corpus: 'demo/data/corpus.txt',
  sft: 'demo/data/sft.jsonl',
  preference: 'demo/data/preference.jsonl',
  benchmark: 'benchmarks/materials-bio-mc.jsonl',
  general: 'demo/data/validation.txt',
} as const;

/** The study's SLERP gradient (README merge_SLERP_and_save, REFERENCE-SEMANTICS.md §5.4): t = 0 the instruct model. */
export const STUDY_SLERP_T = { self_attn: [0, 0.5, 0.3, 0.7, 1], mlp: [1, 0.5, 0.7, 0.3, 0], default: 0.5 };

/** What a recipe may leave out: the Trainer's defaults (engine/train/defaults.ts), 64-token rows, 10 steps a stage. */
export const RECIPE_DEFAULTS: RecipeDefaults = {
  seed: TRAIN_DEFAULTS.seed,
  seqLen: 64,
  lora: { rank: TRAIN_DEFAULTS.rank, alpha: TRAIN_DEFAULTS.alpha, targets: [...TRAIN_DEFAULTS.targets] },
  stage: {
    steps: 10,
    rows: null,
    lr: TRAIN_DEFAULTS.lr,
    schedule: TRAIN_DEFAULTS.schedule,
    warmupSteps: null,
    warmupRatio: TRAIN_DEFAULTS.warmupRatio,
    microBatch: TRAIN_DEFAULTS.microBatch,
    accum: TRAIN_DEFAULTS.accum,
    weightDecay: TRAIN_DEFAULTS.weightDecay,
    maxGradNorm: TRAIN_DEFAULTS.maxGradNorm,
    beta: TRAIN_DEFAULTS.beta,
    labelSmoothing: TRAIN_DEFAULTS.labelSmoothing,
  },
};

/**
 * The demo: the study's best pipeline on the instruct model (Instruct-CPT-SFT-ORPO-SLERP) on Sunny Hill
 * (DEMO_DATA), sized so that stories260K learns the village on a software GPU and every stage moves a number: CPT on
 * the stories (the facts in story form; general-story perplexity rises), SFT on the questions (the benchmark climbs
 * from chance), ORPO with a strong odds-ratio weight (β = 1: right against wrong answers, what a multiple-choice
 * benchmark scores), then SLERP with the original along the study's gradient, and a t-sweep at 0.25/0.5/0.75 that
 * traces the trade-off between the domain and general text (perplexity of held-out stories). Tuned on this repository's
 * host (SwiftShader, 2 cores): rank 16 on every projection, constant learning rates of a few 1e-3 (a LoRA on a
 * 64-wide model needs them; the study's full-fine-tuning rates are in STUDY_RECIPE), rows cut to what the files need
 * (stories ≤ 104 tokens, questions ≤ 48). README's demo section has the numbers.
 */
export const DEMO_RECIPE_SOURCE = {
  name: 'demo: Instruct-CPT-SFT-ORPO-SLERP on Sunny Hill',
  seed: 42,
  seq_len: 48,
  lora: { rank: 16, alpha: 32, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] },
  stages: [
    { method: 'cpt', data: DEMO_DATA.corpus, steps: 20, lr: 3e-3, schedule: 'constant', warmup_ratio: 0, micro_batch: 8, seq_len: 104 },
    { method: 'sft', data: DEMO_DATA.sft, steps: 80, lr: 5e-3, schedule: 'constant', warmup_ratio: 0, micro_batch: 8 },
    { method: 'orpo', data: DEMO_DATA.preference, steps: 24, lr: 1e-3, schedule: 'constant', warmup_ratio: 0, micro_batch: 4, beta: 1 },
  ],
  merge: { method: 'slerp', t: STUDY_SLERP_T, sweep: [0.25, 0.5, 0.75] },
  benchmark: { file: DEMO_DATA.benchmark },
  perplexity: { file: DEMO_DATA.general },
};

/**
 * The study's own values (REFERENCE-SEMANTICS.md §5.3, Llama-3.1-8B-Instruct, its best strategy
 * Instruct-CPT-SFT-ORPO-SLERP): CPT lr 2e-5, 5 epochs, 6×2, cosine, warm-up ratio 0.1, 3072 tokens; SFT lr 2e-5,
 * 1 epoch, 6×2, warm-up 0.1, 3076 tokens; ORPO lr 3e-6, β 0.1, 1 epoch, 3×1, 100 warm-up steps, 2500 tokens; seed 42;
 * SLERP with the instruct model along the study's gradient. Differences, said plainly: the study fine-tuned every
 * weight (no LoRA) on its own datasets; here a LoRA on every projection trains on the built-in biological-materials
 * data (the study's domain; held-out paragraphs for perplexity), and at these learning rates a LoRA moves the model
 * very little. It is the preset for a real GPU and a real model.
 */
export const STUDY_RECIPE_SOURCE = {
  name: 'study: Instruct-CPT-SFT-ORPO-SLERP (Lu, Luu & Buehler 2024, Llama-3.1-8B-Instruct values)',
  seed: 42,
  seq_len: 3072,
  lora: { rank: 8, alpha: 16, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] },
  stages: [
    { method: 'cpt', data: BIO_DATA.corpus, epochs: 5, lr: 2e-5, schedule: 'cosine', warmup_ratio: 0.1, micro_batch: 6, accum: 2, seq_len: 3072 },
    { method: 'sft', data: BIO_DATA.sft, epochs: 1, lr: 2e-5, schedule: 'cosine', warmup_ratio: 0.1, micro_batch: 6, accum: 2, seq_len: 3076 },
    { method: 'orpo', data: BIO_DATA.preference, epochs: 1, lr: 3e-6, schedule: 'cosine', warmup_steps: 100, micro_batch: 3, accum: 1, beta: 0.1, seq_len: 2500 },
  ],
  merge: { method: 'slerp', t: STUDY_SLERP_T },
  benchmark: { file: BIO_DATA.benchmark },
  perplexity: { file: BIO_DATA.general },
};

export const PRESETS = {
  demo: DEMO_RECIPE_SOURCE,
  study: STUDY_RECIPE_SOURCE,
} as const;
export type PresetName = keyof typeof PRESETS;

export function presetRecipe(name: PresetName): Recipe {
  return readRecipe(structuredClone(PRESETS[name]), RECIPE_DEFAULTS, `${name} recipe`);
}

export const demoRecipe = (): Recipe => presetRecipe('demo');
export const studyRecipe = (): Recipe => presetRecipe('study');
