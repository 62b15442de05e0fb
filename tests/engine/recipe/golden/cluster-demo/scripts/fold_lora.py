"""Fold a PEFT LoRA adapter into the model it was trained on and save a Hugging Face folder.

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
