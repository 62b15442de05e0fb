// A SentencePiece vocabulary from whichever file holds it, chosen by extension: llama2.c's tok*.bin or a
// SentencePiece .model. (GGUF files carry theirs inside the model; src/io/gguf reads it there.)
import type { ByteSource } from './bytes.ts';
import { AlloyError } from '../common/errors.ts';
import { readLlama2cTokenizer } from './llama2c-tokenizer.ts';
import { readSentencePieceModel } from './sentencepiece-model.ts';
import type { SentencePieceVocab } from './sentencepiece.ts';

export async function readSentencePieceVocab(source: ByteSource): Promise<SentencePieceVocab> {
  const ext = source.name.toLowerCase().match(/\.[^.]*$/)?.[0];
  if (ext === '.bin') return readLlama2cTokenizer(source);
  if (ext === '.model') return readSentencePieceModel(source);
  throw new AlloyError(
    `${source.name}: unknown tokenizer file; expected llama2.c's tok*.bin or a SentencePiece .model`,
    { file: source.name },
  );
}
