// mergekit's PermutedEmbeddings fill rules on a hand-made three-model vocabulary, one token per rule.
import { describe, expect, it } from 'vitest';
import { permuteEmbeddings, vocabOfTokenizerJson, type OutputVocab } from '../../../src/engine/merge/vocab.ts';

// output tokens: all-have, only-C, none, base+B, B+C (base lacks), forced
const TOKENS = ['all', 'onlyC', 'none', 'baseB', 'BC', 'forced'];
const has: Record<string, string[]> = { base: ['all', 'baseB', 'forced'], B: ['all', 'baseB', 'BC', 'forced'], C: ['all', 'onlyC', 'BC', 'forced'] };

function vocabFor(over: OutputVocab['overrides'] = new Map(), size = TOKENS.length): OutputVocab {
  const index = new Map<string, Int32Array>();
  const vocabs = new Map<string, Map<string, number>>();
  for (const [ref, toks] of Object.entries(has)) {
    vocabs.set(ref, new Map(toks.map((t, i) => [t, i])));
    index.set(ref, Int32Array.from(TOKENS, (t) => toks.indexOf(t)));
  }
  return { source: 'union', tokens: TOKENS, size, index, vocabs, overrides: over, filesFrom: 'base', added: [] };
}

// each model's row i is [100·model + i, −(100·model + i)]
const rows = (m: number) => Float32Array.from(has[['base', 'B', 'C'][m]!]!.flatMap((_, i) => [100 * m + i, -(100 * m + i)]));
const inputs = [{ ref: 'base', data: rows(0) }, { ref: 'B', data: rows(1) }, { ref: 'C', data: rows(2) }];
const at = (m: Float32Array, i: number) => [m[2 * i], m[2 * i + 1]];

describe('permuteEmbeddings', () => {
  it('fills a missing token from the only donor, zero, the base, else the mean', () => {
    const [base, B, C] = permuteEmbeddings(vocabFor(), inputs, 'base', 2, 'embed');
    expect(at(base!, 0)).toEqual([0, -0]);
    expect(at(B!, 0)).toEqual([100, -100]);
    expect(at(base!, 1)).toEqual([201, -201]); // onlyC: C's row 1, copied into the others
    expect(at(B!, 1)).toEqual([201, -201]);
    expect(at(C!, 1)).toEqual([201, -201]);
    for (const m of [base!, B!, C!]) expect(at(m, 2)).toEqual([0, 0]); // none has it
    expect(at(C!, 3)).toEqual([1, -1]); // baseB: C lacks it, the base has it
    expect(at(base!, 4)).toEqual([(102 + 202) / 2, -(102 + 202) / 2]); // BC: base lacks it, mean of B and C
  });

  it('overrides replace the default, force replaces every model row; padding is the mean of real rows', () => {
    const over = new Map([['forced', { source: { kind: 'model_token' as const, ref: 'C', token: 'all' }, force: true }]]);
    const [base, B] = permuteEmbeddings(vocabFor(over, 8), inputs, 'base', 2, 'embed');
    expect(at(base!, 5)).toEqual([200, -200]);
    expect(at(B!, 5)).toEqual([200, -200]);
    const real = Array.from({ length: 6 }, (_, i) => at(B!, i)[0]!);
    expect(at(B!, 7)[0]).toBeCloseTo(real.reduce((s, x) => s + x, 0) / 6, 4);
  });

  it('reads BPE, WordLevel and Unigram vocabularies with added tokens', () => {
    expect([...vocabOfTokenizerJson({ model: { vocab: { a: 0, b: 1 } }, added_tokens: [{ id: 2, content: '<s>' }] }, 'x')]).toEqual([['a', 0], ['b', 1], ['<s>', 2]]);
    expect([...vocabOfTokenizerJson({ model: { vocab: [['▁a', -1], ['b', -2]] } }, 'x')]).toEqual([['▁a', 0], ['b', 1]]);
    expect(() => vocabOfTokenizerJson({ model: {} }, 'M')).toThrow(/M: tokenizer\.json has no model\.vocab/);
  });
});
