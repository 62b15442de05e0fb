/**
 * The one place training hyperparameters get their defaults (the CLI, the Trainer and the Train panel read these).
 * Values follow Hugging Face TrainingArguments / PEFT unless the study (REFERENCE-SEMANTICS.md §5.3) says
 * otherwise; each line says whose default it is.
 */
import type { LoraTarget } from '../lora/targets.ts';

export type ScheduleKind = 'cosine' | 'linear' | 'constant';

export const TRAIN_DEFAULTS = {
  /** LoRA learning rate (PEFT/TRL LoRA examples use 1e-4…2e-4; the study's full fine-tunes used 2e-5) */
  lr: 2e-4,
  /** the study: cosine everywhere except SmolLM CPT (constant) */
  schedule: 'cosine' as ScheduleKind,
  /** the study: warmup_ratio 0.1; HF turns a ratio into ceil(ratio · total steps) */
  warmupRatio: 0.1,
  /** HF TrainingArguments.weight_decay (0.0; torch.optim.AdamW's own default would be 0.01) */
  weightDecay: 0,
  /** HF adam_beta1 / adam_beta2 / adam_epsilon */
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  /** HF max_grad_norm (clip_grad_norm_ by the global L2 norm; 0 = no clipping) */
  maxGradNorm: 1.0,
  /** rows per forward/backward (a DPO/ORPO row is a chosen/rejected pair) */
  microBatch: 4,
  /** micro-batches per optimizer step (HF gradient_accumulation_steps) */
  accum: 1,
  /** the study's seed */
  seed: 42,
  /** PEFT LoraConfig: r 8; alpha 16 (2r, the common LoRA choice; PEFT's own default is 8) */
  rank: 8,
  alpha: 16,
  /** PEFT LoraConfig.lora_dropout (0.0): dropout on the LoRA branch's input, training only */
  loraDropout: 0,
  /** PEFT's default targets for llama and qwen2 */
  targets: ['q_proj', 'v_proj'] as LoraTarget[],
  /** TRL's DPO/ORPO beta */
  beta: 0.1,
  /** TRL DPOConfig.label_smoothing (0.0): cDPO's ε, the assumed chance a preference label is flipped; DPO only */
  labelSmoothing: 0,
  /** TRL SFTConfig.assistant_only_loss (False): {messages} rows train on every token unless set; SFT only */
  assistantOnlyLoss: false,
  /** validation every N optimizer steps (0 = never); checkpoints every N (0 = never); checkpoints kept */
  evalEvery: 0,
  checkpointEvery: 0,
  keepCheckpoints: 3,
} as const;

/**
 * cDPO's ε lies in [0, 0.5) (TRL documents label_smoothing as between 0.0 and 0.5): at 0.5 the loss prefers neither
 * answer, and past it the preference labels are read backwards.
 */
export function isLabelSmoothing(eps: number): boolean {
  return Number.isFinite(eps) && eps >= 0 && eps < 0.5;
}

/**
 * Elements each invocation of shaders/sumsq.wgsl sums (its SPAN override): the gradient norm (clip.ts) launches
 * ⌈n/SUMSQ_SPAN⌉ invocations per tensor and the memory plan (memory.ts) counts as many f32 partials. Kept here,
 * free of GPU imports, so the plan (and the Train panel that shows it) does not pull in kernel code.
 */
export const SUMSQ_SPAN = 256;

/**
 * The most bytes of logits a training pass of a loss linear in the log-probs (CPT, SFT) holds at once: its head runs
 * block by block (lm_head, gather, cross-entropy backward, dnormed), each block freed before the next is made, so
 * the [BT, vocab] logits never exist whole (SmolLM2-135M at 4 × 512: 403 MB → one 64 MiB block). grad.ts splits at
 * this size and the memory plan (memory.ts) counts one such block.
 */
export const TRAIN_LOGIT_BLOCK_BYTES = 64 * 2 ** 20;
