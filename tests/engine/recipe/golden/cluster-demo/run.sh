#!/usr/bin/env bash
# demo: Instruct-CPT-SFT-ORPO-SLERP on Sunny Hill: exported by Alloy for TRL 1.10.0.dev0. Trains every stage with TRL on all GPUs of this machine
# (DeepSpeed ZeRO-3), folds each LoRA into its model, SLERP-merges with mergekit, scores every variant with
# lm-evaluation-harness. Run from anywhere: bash run.sh   (NUM_GPUS=4 bash run.sh to choose the GPU count)
set -euo pipefail
cd "$(dirname "$0")"
NUM_GPUS="${NUM_GPUS:-$(nvidia-smi -L | wc -l)}"
ACCELERATE_CONFIG=recipes/accelerate_configs/deepspeed_zero3.yaml
mkdir -p outputs results

# stage 1: CPT (cpt: SFT on {text} rows, every token scored)
trl sft --config recipes/demo-instruct-cpt-sft-orpo-slerp-on-sunny-hill/CPT/config_lora.yaml --accelerate_config "$ACCELERATE_CONFIG" --num_processes "$NUM_GPUS"
python scripts/fold_lora.py outputs/adapters/CPT outputs/CPT

# stage 2: SFT (sft)
trl sft --config recipes/demo-instruct-cpt-sft-orpo-slerp-on-sunny-hill/SFT/config_lora.yaml --accelerate_config "$ACCELERATE_CONFIG" --num_processes "$NUM_GPUS"
python scripts/fold_lora.py outputs/adapters/CPT-SFT outputs/CPT-SFT

# stage 3: ORPO (orpo)
accelerate launch --config_file "$ACCELERATE_CONFIG" --num_processes "$NUM_GPUS" scripts/orpo.py --config recipes/demo-instruct-cpt-sft-orpo-slerp-on-sunny-hill/ORPO/config_lora.yaml
python scripts/fold_lora.py outputs/adapters/CPT-SFT-ORPO outputs/CPT-SFT-ORPO

# the merge: SLERP with the original model
mergekit-yaml recipes/demo-instruct-cpt-sft-orpo-slerp-on-sunny-hill/slerp/mergekit.yaml outputs/CPT-SFT-ORPO-SLERP

# the t-sweep: the same merge at t = 0.25, 0.5, 0.75
mergekit-yaml recipes/demo-instruct-cpt-sft-orpo-slerp-on-sunny-hill/slerp-t0.25/mergekit.yaml outputs/CPT-SFT-ORPO-SLERP-t0.25
mergekit-yaml recipes/demo-instruct-cpt-sft-orpo-slerp-on-sunny-hill/slerp-t0.5/mergekit.yaml outputs/CPT-SFT-ORPO-SLERP-t0.5
mergekit-yaml recipes/demo-instruct-cpt-sft-orpo-slerp-on-sunny-hill/slerp-t0.75/mergekit.yaml outputs/CPT-SFT-ORPO-SLERP-t0.75

# every variant: the original, after each stage, merged, each sweep merge
MODELS=('HuggingFaceTB/SmolLM2-135M-Instruct' 'outputs/CPT' 'outputs/CPT-SFT' 'outputs/CPT-SFT-ORPO' 'outputs/CPT-SFT-ORPO-SLERP' 'outputs/CPT-SFT-ORPO-SLERP-t0.25' 'outputs/CPT-SFT-ORPO-SLERP-t0.5' 'outputs/CPT-SFT-ORPO-SLERP-t0.75')

# every variant on the benchmark (add_bos_token: Alloy encodes with the tokenizer's own special tokens)
for MODEL in "${MODELS[@]}"; do
  lm_eval --model hf --model_args "pretrained=$MODEL,add_bos_token=True" --include_path eval --tasks alloy_benchmark \
    --batch_size 8 --output_path "results/$(basename "$MODEL")"
done

# every variant's perplexity on the held-out text (add_bos_token=False: the text is encoded without special tokens,
# BOS only as the first window's context, as Alloy and lm-eval's wikitext do)
for MODEL in "${MODELS[@]}"; do
  lm_eval --model hf --model_args "pretrained=$MODEL,add_bos_token=False" --include_path eval --tasks alloy_general_perplexity \
    --batch_size 8 --output_path "results/$(basename "$MODEL")"
done
