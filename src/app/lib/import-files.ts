// Which import a set of picked or dropped files makes: one .gguf, or a llama2.c .bin with its tokenizer
// (tok*.bin or a SentencePiece .model). Pure, so the rules are unit-tested.
import type { ImportRequest } from '../../worker/export-api.ts';

export type ImportPlan = { ok: true; request: ImportRequest; files: string[] } | { ok: false; message: string };

const lower = (f: File) => f.name.toLowerCase();
const isTokenizer = (f: File) => lower(f).endsWith('.model') || /^tok[^/]*\.bin$/.test(lower(f)) || lower(f) === 'tokenizer.bin';

export function planImport(files: readonly File[]): ImportPlan {
  if (files.length === 0) return { ok: false, message: 'Pick a .gguf file, or a llama2.c .bin with its tok*.bin or .model.' };
  const gguf = files.filter((f) => lower(f).endsWith('.gguf'));
  const toks = files.filter(isTokenizer);
  const bins = files.filter((f) => lower(f).endsWith('.bin') && !isTokenizer(f));
  const other = files.filter((f) => !gguf.includes(f) && !toks.includes(f) && !bins.includes(f));
  if (other.length > 0) {
    return { ok: false, message: `${other.map((f) => f.name).join(', ')}: not a checkpoint Alloy imports (GGUF .gguf, llama2.c .bin with tok*.bin or .model)` };
  }
  if (gguf.length > 0) {
    if (files.length > 1) return { ok: false, message: `A GGUF file carries its own vocabulary: import ${gguf[0]!.name} on its own.` };
    return { ok: true, request: { kind: 'gguf', file: gguf[0]! }, files: [gguf[0]!.name] };
  }
  if (bins.length !== 1) {
    return { ok: false, message: bins.length === 0 ? `${toks.map((f) => f.name).join(', ')} is a tokenizer: add the llama2.c model .bin it belongs to.` : `One llama2.c model at a time (got ${bins.map((f) => f.name).join(', ')}).` };
  }
  if (toks.length > 1) return { ok: false, message: `One tokenizer file, please (got ${toks.map((f) => f.name).join(', ')}).` };
  const tokenizer = toks[0];
  if (!tokenizer) {
    return { ok: false, message: `${bins[0]!.name}: a llama2.c checkpoint carries no vocabulary; pick its tokenizer (tok*.bin or .model) together with it.` };
  }
  return { ok: true, request: { kind: 'llama2c', model: bins[0]!, tokenizer }, files: [bins[0]!.name, tokenizer.name] };
}
