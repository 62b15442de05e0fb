// The tokenizer playground's pieces (src/worker/token-pieces.ts): SentencePiece's "▁" shows as the space it is.
import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { loadTokenizer } from '../../src/io/tokenizer.ts';
import { tokenPieces } from '../../src/worker/token-pieces.ts';

const hub = (repo: string) => dirModelFiles(resolve('public/hub', repo, 'resolve', 'main'));

describe('tokenPieces', () => {
  it('keeps the space of "▁a" and of a lone "▁" (SentencePiece, stories260K)', async () => {
    const tok = await loadTokenizer(hub('alloy-demo/stories260K'));
    const text = 'a  cat sat.';
    const ids = tok.encode(text, { addSpecialTokens: false });
    const pieces = tokenPieces(tok, ids);
    console.log(JSON.stringify(pieces), JSON.stringify(ids.map((id) => tok.decode([id]))));
    // the pieces put together are the text (with the one space SentencePiece prepends)
    expect(pieces.join('')).toBe(` ${text}`);
    expect(pieces[0]).toBe(' a');
    expect(pieces).toContain(' ');
  });

  it('changes nothing for byte-level BPE (tiny-qwen2)', async () => {
    const tok = await loadTokenizer(hub('alloy-fixtures/tiny-qwen2'));
    const ids = tok.encode('Alloys are mixtures of metals.', { addSpecialTokens: false });
    expect(tokenPieces(tok, ids)).toEqual(ids.map((id) => tok.decode([id])));
  });
});
