"""Train one ORPO stage from a TRL config YAML: accelerate launch scripts/orpo.py --config CONFIG.yaml

TRL 1.x keeps ORPO in trl.experimental.orpo and has no `trl orpo` command, so this script parses the stage's YAML
with TRL's own parser into (ScriptArguments, ORPOConfig, ModelConfig), as `trl sft` and `trl dpo` do, and trains.
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
