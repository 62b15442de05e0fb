// llama2.c's tokenizer files (tok*.bin, written by its tokenizer.py export) → SentencePieceVocab.
// Layout: int32 max_token_length, then per token: f32 score, int32 byte length, the bytes. The file stores no
// count (run.c takes vocab_size from the checkpoint), so tokens are read to the end of the file.
// The export changed pieces in two ways, undone here: "▁" became " ", and BOS/EOS became "\n<s>\n" / "\n</s>\n".
// Types are not stored; ids 0/1/2 are unk/bos/eos (sentencepiece's defaults, which llama2.c assumes) and
// "<0xAB>" pieces are byte-fallback pieces, which is what the SentencePiece model says for them.
import type { ByteSource } from './bytes.ts';
import { AlloyError } from '../common/errors.ts';
import { inferPieceType, SPACE_MARKER, type SentencePieceVocab } from './sentencepiece.ts';

const IDS = { unkId: 0, bosId: 1, eosId: 2 };
const EXPORTED: Record<string, string> = { '\n<s>\n': '<s>', '\n</s>\n': '</s>' };

export async function readLlama2cTokenizer(source: ByteSource): Promise<SentencePieceVocab> {
  const name = source.name;
  const buf = await source.read(0, source.size);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const fail = (what: string): never => {
    throw new AlloyError(`${name}: not a llama2.c tokenizer (${what})`, { file: name });
  };
  if (buf.length < 4) fail(`${buf.length} bytes`);
  const maxLen = view.getInt32(0, true);
  if (!(maxLen > 0)) fail(`max_token_length ${maxLen}`);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const pieces: string[] = [];
  const scores: number[] = [];
  let pos = 4;
  while (pos < buf.length) {
    const id = pieces.length;
    if (pos + 8 > buf.length) fail(`token ${id} at byte ${pos}: the file ends inside its score and length`);
    const score = view.getFloat32(pos, true);
    const len = view.getInt32(pos + 4, true);
    pos += 8;
    if (len <= 0 || len > maxLen) fail(`token ${id} at byte ${pos - 4}: length ${len} is not in [1, max_token_length ${maxLen}]`);
    if (pos + len > buf.length) fail(`token ${id} at byte ${pos - 4}: its ${len} bytes run past the end of the file (${buf.length} bytes)`);
    let text = '';
    try {
      text = utf8.decode(buf.subarray(pos, pos + len));
    } catch {
      fail(`token ${id} at byte ${pos} is not valid UTF-8`);
    }
    pos += len;
    pieces.push(EXPORTED[text] ?? text.replaceAll(' ', SPACE_MARKER));
    scores.push(score);
  }
  if (pieces.length <= IDS.eosId) fail(`${pieces.length} tokens; unk, bos and eos are ids 0, 1 and 2`);
  return { pieces, scores, types: pieces.map((p, id) => inferPieceType(p, id, IDS)), ...IDS };
}
