/**
 * Which projections LoRA can adapt, and their HF module paths: pure names, no GPU, so the UI can list them without
 * pulling the adapter's kernels into the main-thread bundle (adapter.ts holds the GPU side).
 */
import { AlloyError } from '../../common/errors.ts';

export const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

/** HF module path of a projection, e.g. model.layers.0.self_attn.q_proj */
export function modulePath(layer: number, target: LoraTarget): string {
  const block = target === 'gate_proj' || target === 'up_proj' || target === 'down_proj' ? 'mlp' : 'self_attn';
  return `model.layers.${layer}.${block}.${target}`;
}

/** Target names as PEFT's target_modules gives them (leaf names or full module paths), checked. */
export function parseTargets(list: readonly string[]): LoraTarget[] {
  return list.map((t) => {
    const name = t.includes('.') ? t.slice(t.lastIndexOf('.') + 1) : t;
    if (!(LORA_TARGETS as readonly string[]).includes(name)) {
      throw new AlloyError(`LoRA target "${t}" is not one of ${LORA_TARGETS.join(', ')}`, { field: 'target_modules' });
    }
    return name as LoraTarget;
  });
}
