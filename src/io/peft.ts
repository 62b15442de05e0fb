/**
 * PEFT LoRA adapters as PEFT saves them: adapter_config.json + adapter_model.safetensors with keys
 * `base_model.model.<module path>.lora_A.weight` [r, in] and `.lora_B.weight` [out, r]. Unknown config keys are
 * ignored, as PEFT's own reader does.
 */
import { AlloyError } from '../common/errors.ts';
import { hasFile, readJson, type ModelFiles } from './model-files.ts';
import { openSafetensors, type SafetensorsFile } from './safetensors/reader.ts';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
const KEY = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/;

export interface LoraConfig {
  r: number;
  loraAlpha: number;
  useRslora: boolean;
  targetModules: string[] | string | null;
  /** PEFT's lora_dropout (default 0): applied only in training (engine/lora/adapter.ts) */
  loraDropout?: number;
}

export interface LoraPair {
  /** the base weight this pair adapts, e.g. "model.layers.0.self_attn.q_proj.weight" */
  target: string;
  a: string;
  b: string;
}

export interface PeftAdapter {
  config: LoraConfig;
  file: SafetensorsFile;
  pairs: LoraPair[];
}

/** scaling = alpha / r, or alpha / sqrt(r) with rsLoRA (PEFT's LoraLayer.update_layer). */
export function loraScale(c: LoraConfig): number {
  return c.useRslora ? c.loraAlpha / Math.sqrt(c.r) : c.loraAlpha / c.r;
}

export function parseLoraConfig(json: unknown, file = ADAPTER_CONFIG): LoraConfig {
  if (typeof json !== 'object' || json === null) throw new AlloyError(`${file}: not a JSON object`, { file });
  const o = json as Record<string, unknown>;
  if (o.peft_type !== undefined && o.peft_type !== 'LORA') {
    throw new AlloyError(`${file}: peft_type "${String(o.peft_type)}" is not supported (only LORA adapters are)`, {
      file,
      field: 'peft_type',
    });
  }
  if (o.use_dora === true) throw new AlloyError(`${file}: DoRA adapters (use_dora) are not supported`, { file, field: 'use_dora' });
  if (o.fan_in_fan_out === true) {
    throw new AlloyError(`${file}: fan_in_fan_out adapters (GPT-2 style Conv1D) are not supported`, { file, field: 'fan_in_fan_out' });
  }
  // Per-module ranks or alphas would make loraScale wrong for those modules: refused rather than folded wrongly.
  for (const key of ['rank_pattern', 'alpha_pattern'] as const) {
    const v = o[key];
    if (v !== undefined && v !== null && !(typeof v === 'object' && Object.keys(v).length === 0)) {
      throw new AlloyError(`${file}: "${key}" (per-module ranks or alphas) is not supported: every module must use r and lora_alpha`, { file, field: key });
    }
  }
  const r = o.r ?? 8; // PEFT's defaults: r = 8, lora_alpha = 8
  const alpha = o.lora_alpha ?? 8;
  if (typeof r !== 'number' || !Number.isInteger(r) || r <= 0) throw new AlloyError(`${file}: "r" must be a positive integer`, { file, field: 'r' });
  if (typeof alpha !== 'number') throw new AlloyError(`${file}: "lora_alpha" must be a number`, { file, field: 'lora_alpha' });
  const targets = o.target_modules;
  return {
    r,
    loraAlpha: alpha,
    useRslora: o.use_rslora === true,
    targetModules: Array.isArray(targets) ? targets.map(String) : typeof targets === 'string' ? targets : null,
    loraDropout: typeof o.lora_dropout === 'number' && o.lora_dropout >= 0 && o.lora_dropout < 1 ? o.lora_dropout : 0,
  };
}

export async function readPeftAdapter(m: ModelFiles): Promise<PeftAdapter> {
  if (!hasFile(m, ADAPTER_CONFIG)) throw new AlloyError(`${m.label}: no ${ADAPTER_CONFIG} (not a PEFT adapter folder)`, { file: ADAPTER_CONFIG });
  if (!hasFile(m, ADAPTER_WEIGHTS)) {
    const pickle = m.files.some((f) => f.path === 'adapter_model.bin');
    throw new AlloyError(
      `${m.label}: no ${ADAPTER_WEIGHTS}${pickle ? ' (adapter_model.bin is a pickle file; only safetensors are loaded — re-save with safe_serialization=True)' : ''}`,
      { file: ADAPTER_WEIGHTS },
    );
  }
  const config = parseLoraConfig(await readJson(m, ADAPTER_CONFIG));
  const file = await openSafetensors(await m.open(ADAPTER_WEIGHTS));
  const halves = new Map<string, { a?: string; b?: string }>();
  for (const name of file.tensors.keys()) {
    const hit = KEY.exec(name);
    if (!hit) continue; // e.g. modules_to_save copies: not LoRA pairs
    const module = hit[1]!;
    const h = halves.get(module) ?? {};
    if (hit[2] === 'A') h.a = name;
    else h.b = name;
    halves.set(module, h);
  }
  const pairs: LoraPair[] = [];
  for (const [module, h] of halves) {
    if (!h.a || !h.b) {
      throw new AlloyError(`${ADAPTER_WEIGHTS}: ${module} has lora_${h.a ? 'A' : 'B'} but no lora_${h.a ? 'B' : 'A'}`, {
        file: ADAPTER_WEIGHTS,
        tensor: h.a ?? h.b,
      });
    }
    const a = file.tensors.get(h.a)!;
    const b = file.tensors.get(h.b)!;
    if (a.shape.length !== 2 || b.shape.length !== 2 || a.shape[0] !== b.shape[1]) {
      throw new AlloyError(
        `${ADAPTER_WEIGHTS}: ${module} has lora_A [${a.shape.join(', ')}] and lora_B [${b.shape.join(', ')}]; expected [r, in] and [out, r]`,
        { file: ADAPTER_WEIGHTS, tensor: h.a },
      );
    }
    pairs.push({ target: `${module}.weight`, a: h.a, b: h.b });
  }
  if (pairs.length === 0) throw new AlloyError(`${ADAPTER_WEIGHTS}: no lora_A/lora_B tensors found`, { file: ADAPTER_WEIGHTS });
  pairs.sort((x, y) => (x.target < y.target ? -1 : 1));
  return { config, file, pairs };
}
