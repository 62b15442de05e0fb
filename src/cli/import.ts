/**
 * `alloy import FILE [--tokenizer TOKENIZER] --out DIR`: another format's checkpoint → a Hugging Face model folder.
 *   FILE.bin   a llama2.c legacy checkpoint (karpathy's tinyllamas); --tokenizer tok*.bin (llama2.c) or .model
 *              (SentencePiece) adds tokenizer.json, tokenizer_config.json, special_tokens_map.json
 *   FILE.gguf  a GGUF file of the llama/qwen2/qwen3 architecture; its embedded vocabulary becomes the tokenizer
 *              files (--tokenizer is not used). Block-quantised tensors keep their GGUF types (the GPU reads
 *              Q8_0/Q4_0/Q5_0/Q4_K/Q5_K/Q6_K projections packed); --dequantize f16|bf16|f32 unpacks them instead
 * The folder appears only when complete (written into a hidden sibling, then renamed); --out must be new or empty.
 */
import { existsSync } from 'node:fs';
import { extname } from 'node:path';
import { AlloyError } from '../common/errors.ts';
import { importLlama2cFiles } from '../io/node/import-llama2c.ts';
import { importGgufFile } from '../io/node/gguf.ts';
import { dequantizedNote, storageSummary } from '../io/gguf/import.ts';
import type { FloatDType } from '../io/safetensors/dtypes.ts';

const UNPACK: Readonly<Record<string, FloatDType>> = { f16: 'F16', bf16: 'BF16', f32: 'F32' };

export type ImportArgs = Partial<Record<'out' | 'tokenizer' | 'dequantize', string>>;

export interface ImportIo {
  out: (s: string) => void;
  err: (s: string) => void;
}

export async function importCmd(args: string[], v: ImportArgs, io: ImportIo): Promise<number> {
  if (args.length !== 1) throw new AlloyError('import takes one checkpoint file (FILE.bin or FILE.gguf)');
  const file = args[0]!;
  const out = v.out;
  if (!out) throw new AlloyError('--out is required');
  if (!existsSync(file)) throw new AlloyError(`${file} does not exist`, { file });
  if (v.tokenizer !== undefined && !existsSync(v.tokenizer)) throw new AlloyError(`--tokenizer ${v.tokenizer} does not exist`, { file: v.tokenizer });
  const ext = extname(file).toLowerCase();
  const t0 = performance.now();
  if (ext === '.gguf') {
    if (v.tokenizer !== undefined) throw new AlloyError('--tokenizer is for llama2.c checkpoints; a GGUF file carries its own vocabulary');
    const dequantize = v.dequantize === undefined ? undefined : UNPACK[v.dequantize];
    if (v.dequantize !== undefined && !dequantize) throw new AlloyError(`--dequantize ${v.dequantize}: unpack to f16, bf16 or f32`);
    const r = await importGgufFile(file, out, dequantize ? { dequantize } : {});
    const c = r.config;
    const types = storageSummary(r);
    io.out(
      `imported ${file} (GGUF llama: hidden ${String(c.hidden_size)}, ${String(c.num_hidden_layers)} layers, ${String(c.num_attention_heads)}/${String(c.num_key_value_heads)} heads, ` +
        `vocab ${String(c.vocab_size)}, ${types}) into ${out} in ${((performance.now() - t0) / 1000).toFixed(2)} s: ${r.files.join(', ')}\n`,
    );
    const note = dequantizedNote(r);
    if (note) io.out(`${note}\n`);
    for (const w of r.warnings) io.err(`warning: ${w}\n`);
    if (r.tokenizer === null) io.err(`note: ${file} embeds no vocabulary, so ${out} has no tokenizer.json\n`);
    return 0;
  }
  if (ext !== '.bin') {
    throw new AlloyError(`${file}: unknown checkpoint format "${ext}"; alloy import reads llama2.c .bin and GGUF .gguf files`, { file });
  }
  if (v.dequantize !== undefined) throw new AlloyError('--dequantize is for GGUF files; a llama2.c checkpoint is F32');
  const r = await importLlama2cFiles(file, out, v.tokenizer);
  const h = r.header;
  const secs = (performance.now() - t0) / 1000;
  io.out(
    `imported ${file} (llama2.c: dim ${h.dim}, ${h.nLayers} layers, ${h.nHeads}/${h.nKvHeads} heads, vocab ${h.vocabSize}, ` +
      `${h.tied ? 'tied' : 'untied'} head) into ${out} in ${secs.toFixed(2)} s: ${r.files.join(', ')}\n`,
  );
  if (v.tokenizer === undefined) {
    io.err(`note: no --tokenizer given, so ${out} has no tokenizer.json; alloy generate and the studio need one\n`);
  }
  return 0;
}
