// The text each token stands for, as the tokenizer playground shows it. Decoding a token alone loses what a
// SentencePiece decoder strips at the start of a text (the "▁" of "▁a" becomes nothing, a lone "▁" becomes ""), so
// each token is decoded after a few tokens of context and the context's own text is cut off again; the first token
// gets itself as context. Byte-level BPE decodes the same either way.
import type { AlloyTokenizer } from '../io/tokenizer.ts';

/** tokens of context before each one: enough for a multi-byte character split over byte-fallback tokens */
const CONTEXT = 4;

export function tokenPieces(tok: Pick<AlloyTokenizer, 'decode'>, ids: readonly number[]): string[] {
  return ids.map((id, i) => {
    const context = i === 0 ? [id] : ids.slice(Math.max(0, i - CONTEXT), i);
    const before = tok.decode(context);
    const text = tok.decode([...context, id]);
    return text.startsWith(before) ? text.slice(before.length) : tok.decode([id]);
  });
}
