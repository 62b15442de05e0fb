/**
 * Opening the models a merge config references: `path` or `path+lora_path` (the adapter folded into its base
 * with PEFT's formula, as mergekit's ModelReference.merged does). Only headers and configs are read here.
 */
import { parseModelConfig, type ModelConfig } from '../../io/config.ts';
import { AlloyError } from '../../common/errors.ts';
import { readJson, type ModelFiles } from '../../io/model-files.ts';
import { readPeftAdapter } from '../../io/peft.ts';
import { openCheckpoint, type Checkpoint } from '../../io/safetensors/checkpoint.ts';
import { withAdapter } from '../lora/fold.ts';
import { parseModelRef } from './config.ts';

export interface Parent {
  ref: string;
  files: ModelFiles;
  /** config.json as written (the output's config is the base's, edited) */
  configJson: Record<string, unknown>;
  config: ModelConfig;
  /** what the merge reads: the checkpoint, with the LoRA folded in for `path+lora` */
  checkpoint: Checkpoint;
  /** the stored checkpoint (its dtypes decide the output dtype; folded LoRA tensors read as F32) */
  stored: Checkpoint;
}

export type ResolveModel = (ref: string) => Promise<ModelFiles>;

export async function openParent(ref: string, resolve: ResolveModel): Promise<Parent> {
  const { model, lora } = parseModelRef(ref);
  const files = await resolve(model);
  const json = await readJson(files, 'config.json');
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new AlloyError(`${files.label}: config.json is not a JSON object`, { file: 'config.json' });
  }
  const config = parseModelConfig(json, `${files.label}/config.json`);
  const stored = await openCheckpoint(files);
  const checkpoint = lora ? withAdapter(stored, await readPeftAdapter(await resolve(lora))) : stored;
  return { ref, files, configJson: json as Record<string, unknown>, config, checkpoint, stored };
}
