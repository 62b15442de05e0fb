/**
 * `alloy import FILE [--tokenizer TOKENIZER] --out DIR`: another format's checkpoint → a Hugging Face model folder.
 *   FILE.bin   a llama2.c legacy checkpoint (karpathy's tinyllamas); --tokenizer tok*.bin (llama2.c) or .model
 *              (SentencePiece) adds tokenizer.json, tokenizer_config.json, special_tokens_map.json
 *   FILE.gguf  not in this build yet
 * The folder appears only when complete (written into a hidden sibling, then renamed); --out must be new or empty.
 */
import { existsSync } from 'node:fs';
import { extname } from 'node:path';
import { AlloyError } from '../io/errors.ts';
import { importLlama2cFiles } from '../io/node/import-llama2c.ts';

export type ImportArgs = Partial<Record<'out' | 'tokenizer', string>>;

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
  if (ext === '.gguf') {
    throw new AlloyError('GGUF import: not available in this build', { file });
  }
  if (ext !== '.bin') {
    throw new AlloyError(`${file}: unknown checkpoint format "${ext}"; alloy import reads llama2.c .bin files (GGUF to come)`, { file });
  }
  const t0 = performance.now();
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
