/**
 * `alloy export-gguf --model DIR --out FILE.gguf [--dtype f16|bf16|f32|q8_0|q6_k|q5_k_m|q4_k_m|q4_0]`: a Hugging Face
 * Llama/Mistral/Qwen2/Qwen3/SmolLM3/Gemma 3 folder (base, fine-tuned or merged) as one GGUF v3 file for llama.cpp. bf16 keeps BF16
 * checkpoints' range (f16 overflows above 65504). Norm weights stay F32 whatever --dtype says; the quantised presets
 * choose each tensor's type as llama.cpp does (table in io/gguf/presets.ts: Q6_K output, Q6_K attn_v/ffn_down in some
 * q4_k_m/q5_k_m layers, fallbacks for rows that are not whole blocks). The file appears only when complete (written under a
 * hidden sibling name, then renamed).
 */
import { AlloyError } from '../common/errors.ts';
import { GGUF_OUT_TYPES, type GgufOutType } from '../io/gguf/export.ts';
import { exportGgufFile } from '../io/node/gguf.ts';
import { formatBytes } from '../io/progress.ts';
import { statSync } from 'node:fs';

export type ExportGgufArgs = Partial<Record<'model' | 'out' | 'dtype', string>>;

export async function exportGgufCmd(v: ExportGgufArgs, io: { out: (s: string) => void }): Promise<number> {
  if (!v.model) throw new AlloyError('--model is required');
  if (!v.out) throw new AlloyError('--out is required');
  const dtype = (v.dtype ?? 'f16').toLowerCase();
  if (!(GGUF_OUT_TYPES as readonly string[]).includes(dtype)) throw new AlloyError(`--dtype must be one of ${GGUF_OUT_TYPES.join(', ')}, got "${v.dtype}"`);
  const t0 = performance.now();
  const r = await exportGgufFile(v.model, v.out, { type: dtype as GgufOutType });
  const counts = new Map<string, number>();
  for (const t of r.tensors) counts.set(t.type, (counts.get(t.type) ?? 0) + 1);
  io.out(
    `wrote ${v.out} (${formatBytes(statSync(v.out).size)}, GGUF v3 llama, ${r.tensors.length} tensors: ` +
      `${[...counts].map(([t, n]) => `${t} × ${n}`).join(', ')}; "${r.tokenizer}" vocabulary) in ${((performance.now() - t0) / 1000).toFixed(2)} s\n`,
  );
  return 0;
}
