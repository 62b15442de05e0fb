// llama2.c checkpoint (+ tokenizer file) on disk → Hugging Face folder on disk, published all at once. Shared by
// `alloy import` and scripts/demo-model.ts. Node only.
import { importLlama2c, type Llama2cImport } from '../llama2c.ts';
import { readSentencePieceVocab } from '../tokenizer-sources.ts';
import { fileSource } from './fs.ts';
import { writeDirStaged } from './staged-dir.ts';

export async function importLlama2cFiles(model: string, out: string, tokenizer?: string): Promise<Llama2cImport> {
  const source = fileSource(model);
  const tok = tokenizer === undefined ? undefined : fileSource(tokenizer);
  const vocab = tok ? await readSentencePieceVocab(tok) : undefined;
  return writeDirStaged(out, (sinkFor) =>
    importLlama2c(source, sinkFor, vocab && tok ? { tokenizer: { vocab, name: tok.name } } : {}),
  );
}
