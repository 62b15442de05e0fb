// Token statistics, the length histogram and the train/validation split of the Data panel.
import { describe, expect, it } from 'vitest';
import { histogram, rowTokenCounts, tokenStats } from '../../../src/io/datasets/stats.ts';
import { splitIndices } from '../../../src/io/datasets/split.ts';
import { splitRows } from '../../../src/worker/train-data.ts';
import { rowsToSequences, type RowTokenizer } from '../../../src/io/datasets/rows.ts';

// one token per character, BOS 1, EOS 2
const tok: RowTokenizer = {
  encode: (t, o) => [...(o?.addSpecialTokens === false ? [] : [1]), ...[...t].map((c) => 3 + (c.charCodeAt(0) % 90))],
  bosTokenId: 1,
  eosTokenIds: [2],
};

describe('tokenStats', () => {
  it('total, min / median / max of the longest sequence per row, rows over the length', () => {
    const c = [5, 1, 9, 3].map((n) => ({ tokens: n * 2, longest: n }));
    expect(tokenStats(c, 4)).toEqual({ rows: 4, total: 36, min: 1, median: 4, max: 9, over: 2, seqLen: 4 });
    expect(tokenStats(c.slice(0, 3), 5).median).toBe(5);
    expect(tokenStats([], 8)).toEqual({ rows: 0, total: 0, min: 0, median: 0, max: 0, over: 0, seqLen: 8 });
  });
});

describe('histogram', () => {
  it('equal integer-width bins from min to max, every value in one bin', () => {
    const v = [3, 4, 4, 10, 12, 22];
    const h = histogram(v, 4);
    expect(h).toEqual([
      { lo: 3, hi: 7, count: 3 },
      { lo: 8, hi: 12, count: 2 },
      { lo: 13, hi: 17, count: 0 },
      { lo: 18, hi: 22, count: 1 },
    ]);
    expect(histogram([7, 7], 20)).toEqual([{ lo: 7, hi: 7, count: 2 }]);
    expect(histogram([], 5)).toEqual([]);
    const many = Array.from({ length: 1000 }, (_, i) => (i * 37) % 501);
    const hb = histogram(many, 20);
    expect(hb.length).toBeLessThanOrEqual(20);
    expect(hb.reduce((s, b) => s + b.count, 0)).toBe(1000);
    for (const x of many) expect(hb.filter((b) => b.lo <= x && x <= b.hi)).toHaveLength(1);
  });
});

describe('rowTokenCounts', () => {
  it('each row as training tokenises it; a preference row counts both answers; bad rows are issues with lines', () => {
    const rows = [
      { line: 1, value: { prompt: 'ab', chosen: ' c', rejected: ' dd' } },
      { line: 3, value: { prompt: 'x', chosen: ' y', rejected: ' zzz' } },
    ];
    const r = rowTokenCounts('dpo', rows, tok, 100, 'p.jsonl');
    const seqs = rowsToSequences('dpo', rows, tok, 100);
    expect(r.rows).toEqual([
      { line: 1, tokens: seqs[0]!.ids.length + seqs[2]!.ids.length, longest: seqs[2]!.ids.length },
      { line: 3, tokens: seqs[1]!.ids.length + seqs[3]!.ids.length, longest: seqs[3]!.ids.length },
    ]);
    const sft = rowTokenCounts('sft', [{ line: 1, value: { prompt: 'a', completion: ' b' } }, { line: 2, value: { text: 5 } }, { line: 5, value: { text: 'hi' } }], tok, 100, 's.jsonl');
    expect(sft.rows.map((x) => x.line)).toEqual([1, 5]);
    expect(sft.issues).toEqual([{ line: 2, reason: '"text" must be a string', field: 'text' }]);
  });
});

describe('splitIndices', () => {
  it('is the trainer’s held-out split, deterministic per seed, and keeps rows (pairs) whole', () => {
    for (const [n, f, seed] of [[10, 0.2, 0], [41, 0.1, 7], [30, 0.33, 123], [2, 0.5, 1]] as const) {
      const rows = Array.from({ length: n }, (_, i) => ({ i, prompt: `p${i}`, chosen: `c${i}`, rejected: `r${i}` }));
      const a = splitIndices(n, f, seed);
      const t = splitRows(rows, f, seed);
      expect(a.train.map((i) => rows[i])).toEqual(t.train);
      expect(a.val.map((i) => rows[i])).toEqual(t.val);
      expect(splitIndices(n, f, seed)).toEqual(a);
      expect(a.val).toHaveLength(Math.ceil(f * n));
      expect([...a.train, ...a.val].sort((x, y) => x - y)).toEqual(rows.map((r) => r.i));
    }
    expect(splitIndices(41, 0.1, 1)).not.toEqual(splitIndices(41, 0.1, 2));
    expect(() => splitIndices(10, 0, 1)).toThrow(/\(0, 1\)/);
    expect(() => splitIndices(1, 0.5, 1)).toThrow(/no training rows/);
  });
});
