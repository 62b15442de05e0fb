/**
 * The config fields TRL documents, as the TRL CLI's parser (TrlParser / HfArgumentParser) knows them: a stage YAML
 * for `trl sft|dpo --config` (and the ORPO script the export ships) may hold exactly these keys, and the parser
 * refuses any other. The export writes only keys listed here (tests/engine/recipe/trl-export.test.ts checks it) and
 * the import names every key that is not.
 *
 * Read from the sources (field names of the dataclasses, and the defaults of the fields the recipe maps):
 *  - TRL 1.10.0.dev0, huggingface/trl main at f2cd57710ae345ea6428ae95363267fcf38a3dc8 (2026-07-24):
 *    trl/scripts/utils.py (ScriptArguments, DatasetMixtureConfig), trl/trainer/model_config.py (ModelConfig),
 *    trl/trainer/base_config.py (_BaseConfig), trl/trainer/sft_config.py, trl/trainer/dpo_config.py,
 *    trl/experimental/orpo/orpo_config.py, trl/cli (accelerate_config, num_processes pass to `accelerate launch`);
 *  - transformers 5 main at 00349ae87eddc872ffa21a8a54f264375a0056a8: src/transformers/training_args.py
 *    (TrainingArguments; warmup_ratio is deprecated there and goes in 5.2: warmup_steps takes a ratio below 1).
 */
import type { Method } from '../../common/training-data.ts';

export const TRL_VERSION = '1.10.0.dev0';
export const TRL_COMMIT = 'f2cd57710ae345ea6428ae95363267fcf38a3dc8';
export const TRANSFORMERS_COMMIT = '00349ae87eddc872ffa21a8a54f264375a0056a8';

/** The dataclass (or launcher) that declares a field. */
export type TrlOwner =
  | 'TrainingArguments'
  | 'SFTConfig'
  | 'DPOConfig'
  | 'ORPOConfig'
  | 'ModelConfig'
  | 'ScriptArguments'
  | 'DatasetMixtureConfig'
  | 'TRL CLI';

const TRAINING_ARGUMENTS = [
  'output_dir', 'per_device_train_batch_size', 'num_train_epochs', 'max_steps', 'learning_rate', 'lr_scheduler_type',
  'lr_scheduler_kwargs', 'warmup_steps', 'optim', 'optim_args', 'weight_decay', 'adam_beta1', 'adam_beta2', 'adam_epsilon',
  'optim_target_modules', 'gradient_accumulation_steps', 'average_tokens_across_devices', 'max_grad_norm',
  'label_smoothing_factor', 'bf16', 'fp16', 'bf16_full_eval', 'fp16_full_eval', 'tf32', 'gradient_checkpointing',
  'gradient_checkpointing_kwargs', 'torch_compile', 'torch_compile_backend', 'torch_compile_mode', 'use_liger_kernel',
  'liger_kernel_config', 'use_cache', 'neftune_noise_alpha', 'torch_empty_cache_steps', 'auto_find_batch_size',
  'logging_strategy', 'logging_steps', 'logging_first_step', 'log_on_each_node', 'logging_nan_inf_filter',
  'include_num_input_tokens_seen', 'log_level', 'log_level_replica', 'disable_tqdm', 'report_to', 'run_name', 'project',
  'trackio_space_id', 'eval_strategy', 'eval_steps', 'eval_delay', 'per_device_eval_batch_size', 'prediction_loss_only',
  'eval_on_start', 'eval_do_concat_batches', 'eval_use_gather_object', 'eval_accumulation_steps', 'include_for_metrics',
  'batch_eval_metrics', 'save_only_model', 'save_strategy', 'save_steps', 'save_on_each_node', 'save_total_limit',
  'enable_jit_checkpoint', 'push_to_hub', 'hub_token', 'hub_private_repo', 'hub_model_id', 'hub_strategy',
  'hub_always_push', 'hub_revision', 'load_best_model_at_end', 'metric_for_best_model', 'greater_is_better',
  'ignore_data_skip', 'restore_callback_states_from_checkpoint', 'full_determinism', 'seed', 'data_seed', 'use_cpu',
  'accelerator_config', 'parallelism_config', 'dataloader_drop_last', 'dataloader_num_workers', 'dataloader_pin_memory',
  'dataloader_persistent_workers', 'dataloader_prefetch_factor', 'remove_unused_columns', 'label_names',
  'train_sampling_strategy', 'length_column_name', 'ddp_find_unused_parameters', 'ddp_bucket_cap_mb',
  'ddp_broadcast_buffers', 'ddp_backend', 'ddp_timeout', 'fsdp', 'fsdp_config', 'deepspeed', 'debug',
  'skip_memory_metrics', 'do_train', 'do_eval', 'do_predict', 'resume_from_checkpoint', 'warmup_ratio', 'logging_dir',
  'local_rank',
] as const;

/** Every documented field by owner (TRL's _BaseConfig only changes TrainingArguments defaults, so it adds no name). */
export const TRL_FIELDS: Readonly<Record<TrlOwner, readonly string[]>> = {
  TrainingArguments: TRAINING_ARGUMENTS,
  SFTConfig: [
    'model_init_kwargs', 'router_aux_loss_coef', 'trust_remote_code', 'chat_template_path', 'dataset_text_field',
    'dataset_kwargs', 'dataset_num_proc', 'eos_token', 'max_length', 'truncation_mode', 'shuffle_dataset', 'packing',
    'packing_strategy', 'padding_free', 'pad_to_multiple_of', 'eval_packing', 'completion_only_loss',
    'assistant_only_loss', 'loss_type', 'activation_offloading', 'pad_token',
  ],
  DPOConfig: [
    'model_init_kwargs', 'trust_remote_code', 'router_aux_loss_coef', 'disable_dropout', 'dataset_num_proc', 'max_length',
    'truncation_mode', 'padding_free', 'pad_to_multiple_of', 'precompute_ref_log_probs', 'precompute_ref_batch_size',
    'loss_type', 'loss_weights', 'ld_alpha', 'f_divergence_type', 'f_alpha_divergence_coef', 'label_smoothing', 'beta',
    'use_weighting', 'discopop_tau', 'activation_offloading', 'sync_ref_model', 'ref_model_mixup_alpha',
    'ref_model_sync_steps', 'pad_token',
  ],
  ORPOConfig: [
    'max_length', 'max_completion_length', 'beta', 'disable_dropout', 'padding_value', 'generate_during_eval',
    'is_encoder_decoder', 'model_init_kwargs', 'trust_remote_code', 'dataset_num_proc',
  ],
  ModelConfig: [
    'model_name_or_path', 'model_revision', 'dtype', 'attn_implementation', 'use_peft', 'lora_r', 'lora_alpha',
    'lora_dropout', 'lora_target_modules', 'lora_target_parameters', 'lora_modules_to_save', 'lora_task_type',
    'use_rslora', 'use_dora', 'load_in_8bit', 'load_in_4bit', 'bnb_4bit_quant_type', 'use_bnb_nested_quant',
    'bnb_4bit_quant_storage',
  ],
  ScriptArguments: ['dataset_name', 'dataset_config', 'dataset_train_split', 'dataset_test_split', 'dataset_streaming', 'ignore_bias_buffers'],
  DatasetMixtureConfig: ['datasets', 'streaming', 'test_split_size'],
  // read by `trl <command>` itself and handed to `accelerate launch`; TrlParser also reads `env` (environment variables)
  'TRL CLI': ['accelerate_config', 'num_processes', 'env'],
};

/** The TRL command (and trainer) a stage's objective runs under. */
export type TrlCommand = 'sft' | 'dpo' | 'orpo';

/** cpt is SFT on {text} rows (every token scored), IPO is DPOTrainer's loss_type "ipo". */
export const TRL_COMMAND: Readonly<Record<Method, TrlCommand>> = { cpt: 'sft', sft: 'sft', dpo: 'dpo', ipo: 'dpo', orpo: 'orpo' };

const CONFIG_OF: Readonly<Record<TrlCommand, TrlOwner>> = { sft: 'SFTConfig', dpo: 'DPOConfig', orpo: 'ORPOConfig' };

/**
 * The dataclasses a command parses a --config YAML into: `trl sft` (ScriptArguments, SFTConfig, ModelConfig,
 * DatasetMixtureConfig), `trl dpo` the same with DPOConfig, the ORPO script (ScriptArguments, ORPOConfig, ModelConfig).
 */
export function trlOwners(cmd: TrlCommand): TrlOwner[] {
  const base: TrlOwner[] = ['ScriptArguments', 'TrainingArguments', CONFIG_OF[cmd], 'ModelConfig'];
  return cmd === 'orpo' ? base : [...base, 'DatasetMixtureConfig', 'TRL CLI'];
}

/** Which owner declares `key` for `cmd` (the trainer's config before TrainingArguments), or null when none does. */
export function trlOwnerOf(cmd: TrlCommand, key: string): TrlOwner | null {
  const owners = trlOwners(cmd);
  const order = [CONFIG_OF[cmd], ...owners.filter((o) => o !== CONFIG_OF[cmd])];
  return order.find((o) => TRL_FIELDS[o].includes(key)) ?? null;
}

/** Any command's owner of `key` (for naming a key that belongs to another trainer, e.g. `beta` in an SFT YAML). */
export function anyOwnerOf(key: string): TrlOwner | null {
  return (Object.keys(TRL_FIELDS) as TrlOwner[]).find((o) => TRL_FIELDS[o].includes(key)) ?? null;
}

/**
 * TRL's defaults for the fields the recipe maps (what the cluster trains with when a YAML leaves one out): TRL's
 * per-trainer learning rates and max_length, _BaseConfig's bf16 and gradient_checkpointing, ModelConfig's LoRA
 * defaults (PEFT then picks the target modules by architecture: q_proj and v_proj for Llama and Qwen2),
 * TrainingArguments for the rest.
 */
export const TRL_DEFAULTS = {
  learning_rate: { sft: 2e-5, dpo: 1e-6, orpo: 1e-6 } as Readonly<Record<TrlCommand, number>>,
  lr_scheduler_type: 'linear',
  warmup_steps: 0,
  max_steps: -1,
  num_train_epochs: 3,
  per_device_train_batch_size: 8,
  gradient_accumulation_steps: 1,
  weight_decay: 0,
  max_grad_norm: 1,
  max_length: 1024,
  beta: 0.1,
  label_smoothing: 0,
  loss_type: ['sigmoid'],
  seed: 42,
  bf16: true,
  gradient_checkpointing: true,
  use_peft: false,
  lora_r: 16,
  lora_alpha: 32,
  lora_dropout: 0.05,
  lora_target_modules: null,
  use_rslora: false,
  dataset_train_split: 'train',
} as const;

/**
 * Keys of alignment-handbook recipes and older TRL / transformers that TRL 1.x no longer parses, with what they are
 * now (the import reads an alias as its new name and says so).
 */
export const LEGACY_KEYS: Readonly<Record<string, { now?: string; what: string }>> = {
  max_seq_length: { now: 'max_length', what: "SFTConfig's name for max_length before TRL 0.20" },
  torch_dtype: { now: 'dtype', what: "ModelConfig's name for dtype before transformers 4.56" },
  max_prompt_length: { what: 'a prompt-only truncation that TRL 1.x dropped (Alloy truncates prompt + answer to max_length, keeping the start)' },
  dataset_mixture: { what: "the alignment-handbook's own dataset list (TRL 1.x: `datasets`)" },
  chat_template: { what: "the alignment-handbook's chat template override (Alloy uses the model's own template)" },
  overwrite_output_dir: { what: 'a TrainingArguments field removed in transformers 5' },
  evaluation_strategy: { what: "TrainingArguments' old name for eval_strategy" },
};
