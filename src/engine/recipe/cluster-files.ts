/**
 * The fixed files of a cluster export (cluster-export.ts): the accelerate config for DeepSpeed ZeRO-3, the fold
 * script and the ORPO launcher. Written for the versions README_VERSIONS names; each says why it is there.
 */

/** What the folder was written for (the README's install line). TRL and transformers: read from source (trl-fields.ts). */
export const README_VERSIONS = {
  trl: '>=1.0,<2',
  transformers: '>=5.0',
  peft: '>=0.17',
  accelerate: '>=1.10.1',
  deepspeed: '>=0.17',
  datasets: '>=4.0',
  mergekit: '>=0.1.2',
  'lm-eval': '>=0.4.9',
} as const;

/** accelerate's config for one machine, every GPU a process, DeepSpeed ZeRO stage 3 (as the alignment-handbook's zero3.yaml). */
export const ZERO3_ACCELERATE_YAML = `# accelerate launch config: DeepSpeed ZeRO-3 on one machine. run.sh passes --num_processes (one per GPU);
# for several machines set num_machines, machine_rank and the main process address (accelerate config).
compute_environment: LOCAL_MACHINE
debug: false
deepspeed_config:
  deepspeed_multinode_launcher: standard
  offload_optimizer_device: none
  offload_param_device: none
  zero3_init_flag: true
  zero3_save_16bit_model: true
  zero_stage: 3
distributed_type: DEEPSPEED
downcast_bf16: 'no'
machine_rank: 0
main_training_function: main
mixed_precision: bf16
num_machines: 1
num_processes: 8
rdzv_backend: static
same_network: true
tpu_env: []
tpu_use_cluster: false
tpu_use_sudo: false
use_cpu: false
`;

/** Folding a stage's LoRA into its model, as Alloy does between stages (W + (alpha / r)·B·A, in the model's dtype). */
export const FOLD_LORA_PY = `"""Fold a PEFT LoRA adapter into the model it was trained on and save a Hugging Face folder.

Alloy folds every stage's LoRA into the model before the next stage trains (engine/recipe/fold-model.ts):
W' = W + (lora_alpha / r) * B @ A, written in the base model's dtype. PEFT's merge_and_unload does the same.

usage: python scripts/fold_lora.py ADAPTER_DIR OUT_DIR
"""

import sys

from peft import AutoPeftModelForCausalLM
from transformers import AutoTokenizer

adapter_dir, out_dir = sys.argv[1], sys.argv[2]
model = AutoPeftModelForCausalLM.from_pretrained(adapter_dir, dtype="auto")
model.merge_and_unload().save_pretrained(out_dir)
AutoTokenizer.from_pretrained(adapter_dir).save_pretrained(out_dir)
print(f"folded {adapter_dir} into {out_dir}")
`;

/**
 * TRL 1.x keeps ORPO under trl.experimental with no \`trl orpo\` command; this launcher reads the same kind of --config
 * YAML as \`trl sft|dpo\` (ScriptArguments, ORPOConfig, ModelConfig) and trains with ORPOTrainer.
 */
export const ORPO_PY = `"""Train one ORPO stage from a TRL config YAML: accelerate launch scripts/orpo.py --config CONFIG.yaml

TRL 1.x keeps ORPO in trl.experimental.orpo and has no \`trl orpo\` command, so this script parses the stage's YAML
with TRL's own parser into (ScriptArguments, ORPOConfig, ModelConfig), as \`trl sft\` and \`trl dpo\` do, and trains.
"""

from datasets import load_dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import ModelConfig, ScriptArguments, TrlParser, get_peft_config
from trl.experimental.orpo import ORPOConfig, ORPOTrainer

if __name__ == "__main__":
    parser = TrlParser((ScriptArguments, ORPOConfig, ModelConfig))
    script_args, training_args, model_args = parser.parse_args_and_config()
    model = AutoModelForCausalLM.from_pretrained(model_args.model_name_or_path, dtype=model_args.dtype)
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dataset = load_dataset(script_args.dataset_name, name=script_args.dataset_config)
    trainer = ORPOTrainer(
        model,
        args=training_args,
        train_dataset=dataset[script_args.dataset_train_split],
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
    )
    trainer.train()
    trainer.save_model(training_args.output_dir)
`;
