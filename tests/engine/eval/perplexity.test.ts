// Rolling-window perplexity as lm-eval's loglikelihood_rolling: the windows of its get_rolling_token_windows
// docstring (made disjoint), every token predicted once, and word/byte perplexity and bits per byte from summed
// log-probs, on a fake scorer with a known log-prob per token.
import { describe, expect, it } from 'vitest';
import { countWords, evaluatePerplexity, rollingWindows, type TokenRequest } from '../../../src/engine/eval/perplexity.ts';

describe('rolling windows', () => {
  it('match lm-eval get_rolling_token_windows(0..8, P, max_seq_len 3, context_len 2) after make_disjoint_window', () => {
    // lm-eval docstring: windows (P 0 1 → 0 1 2), (1 2 3 → 3 4), (3 4 5 → 5 6), (5 6 7 → 7 8)
    const P = -1;
    expect(rollingWindows([0, 1, 2, 3, 4, 5, 6, 7, 8], P, 3, 2)).toEqual([
      { context: [P], continuation: [0, 1, 2] },
      { context: [1, 2], continuation: [3, 4] },
      { context: [3, 4], continuation: [5, 6] },
      { context: [5, 6], continuation: [7, 8] },
    ]);
  });

  it('with context_len 1 (lm-eval HF models) the windows are disjoint; the last one keeps a full context', () => {
    const toks = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
    const w = rollingWindows(toks, 1, 4);
    expect(w).toEqual([
      { context: [1], continuation: [10, 11, 12, 13] },
      { context: [13], continuation: [14, 15, 16, 17] },
      { context: [15, 16, 17], continuation: [18, 19] },
    ]);
    expect(w.flatMap((x) => x.continuation)).toEqual(toks);
    for (const x of w) expect(x.context.length + x.continuation.length).toBeLessThanOrEqual(4 + 1);
    expect(rollingWindows([], 1, 4)).toEqual([]);
    expect(rollingWindows([5, 6], 1, 4)).toEqual([{ context: [1], continuation: [5, 6] }]);
  });
});

describe('perplexity metrics', () => {
  it('word and byte perplexity and bits per byte from the summed log-prob (lm-eval weighted_perplexity)', async () => {
    const docs = [{ text: 'ab cd' }, { text: ' é\n' }];
    const encode = (t: string) => [...t].map((c) => c.codePointAt(0)!);
    const seen: TokenRequest[] = [];
    const scorer = async (reqs: TokenRequest[]) => {
      seen.push(...reqs);
      return reqs.map((r) => -0.5 * r.continuation.length);
    };
    const s = await evaluatePerplexity(docs, scorer, { encode, prefixToken: 0, maxLength: 2, windowsPerBatch: 2 });
    // every character is one token, log-prob −0.5 each: 5 + 3 tokens
    expect(s.tokens).toBe(8);
    expect(s.logProb).toBeCloseTo(-4, 12);
    expect(seen.flatMap((r) => r.continuation)).toEqual([...encode('ab cd'), ...encode(' é\n')]);
    // words: re.split(r"\s+"): "ab cd" → 2, " é\n" → ['', 'é', ''] = 3
    expect(countWords('ab cd')).toBe(2);
    expect(countWords(' é\n')).toBe(3);
    expect(s.words).toBe(5);
    expect(s.bytes).toBe(5 + 4);
    expect(s.wordPerplexity).toBeCloseTo(Math.exp(4 / 5), 12);
    expect(s.bytePerplexity).toBeCloseTo(Math.exp(4 / 9), 12);
    expect(s.bitsPerByte).toBeCloseTo(4 / 9 / Math.LN2, 12);
    expect(s.docs.map((d) => d.windows)).toEqual([3, 2]);
  });
});
