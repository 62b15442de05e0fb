// Log-likelihood multiple-choice scoring (lm-eval's acc / acc_norm) on a fake scorer whose log-probs are chosen so
// that acc and acc_norm disagree; the shipped benchmark parses; lm-eval's context/continuation token split.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  encodePair,
  encodePairs,
  evaluateMultipleChoice,
  parseMultipleChoiceJsonl,
  requestsFor,
  type MultipleChoiceItem,
  type TextRequest,
} from '../../../src/engine/eval/multiple-choice.ts';

const items: MultipleChoiceItem[] = [
  // sums: " a" -1, " bbbbbbbbb" -3 → acc picks 0; per byte: -0.5 vs -0.3 → acc_norm picks 1
  { question: 'q1', choices: ['a', 'bbbbbbbbb'], answer: 1 },
  // both pick 2 (the answer)
  { question: 'q2', choices: ['x', 'y', 'z'], answer: 2 },
  // both pick 0, answer is 1
  { question: 'q3', choices: ['no', 'yes'], answer: 1 },
];
const table: Record<string, number> = {
  'q1| a': -1, 'q1| bbbbbbbbb': -3,
  'q2| x': -5, 'q2| y': -4, 'q2| z': -1,
  'q3| no': -1, 'q3| yes': -2,
};
const fake = async (reqs: TextRequest[]) => reqs.map((r) => table[`${r.context.slice(10, 12)}|${r.continuation}`]!);

describe('multiple-choice scoring', () => {
  it('builds lm-eval requests: "Question: …\\nAnswer:" and " <choice>"', () => {
    expect(requestsFor(items[0]!)).toEqual([
      { context: 'Question: q1\nAnswer:', continuation: ' a' },
      { context: 'Question: q1\nAnswer:', continuation: ' bbbbbbbbb' },
    ]);
  });

  it('acc = argmax of summed log-prob, acc_norm = argmax of log-prob per byte', async () => {
    for (const per of [1, 2, 8]) {
      const progress: number[] = [];
      const r = await evaluateMultipleChoice(items, fake, { itemsPerBatch: per, onProgress: (d) => progress.push(d) });
      expect(r.n).toBe(3);
      expect(r.items.map((x) => x.pred)).toEqual([0, 2, 0]);
      expect(r.items.map((x) => x.predNorm)).toEqual([1, 2, 0]);
      expect(r.acc).toBeCloseTo(1 / 3, 12);
      expect(r.accNorm).toBeCloseTo(2 / 3, 12);
      expect(progress.at(-1)).toBe(3);
    }
  });

  it('normalises by UTF-8 bytes, not characters', async () => {
    // " é" is 3 bytes (2 characters), " ab" 3 bytes: equal per-byte scores tie, and the first wins.
    const item = { question: 'q4', choices: ['é', 'ab'], answer: 1 };
    const r = await evaluateMultipleChoice([item], async () => [-3, -3]);
    expect(r.items[0]!.predNorm).toBe(0);
    const r2 = await evaluateMultipleChoice([item], async () => [-3.1, -3]);
    expect(r2.items[0]!.predNorm).toBe(1);
  });

  it('stops when cancelled and rejects a scorer that loses requests', async () => {
    const c = new AbortController();
    c.abort();
    await expect(evaluateMultipleChoice(items, fake, { signal: c.signal })).rejects.toThrow(/cancelled/);
    await expect(evaluateMultipleChoice(items, async () => [0])).rejects.toThrow(/1 scores for 7 requests/);
  });

  it('splits tokens as lm-eval: continuation = whole[len(context):]', () => {
    const enc = (s: string) => [...s].map((ch) => ch.charCodeAt(0));
    expect(encodePair(enc, { context: 'ab', continuation: ' c' })).toEqual({ context: [97, 98], continuation: [32, 99] });
    // lm-eval _encode_pair: the context's trailing whitespace moves to the continuation
    expect(encodePair(enc, { context: 'ab\n ', continuation: 'c' })).toEqual({ context: [97, 98], continuation: [10, 32, 99] });
  });

  it('encodePairs: the same pairs, each distinct text encoded once (an item\'s shared context once)', () => {
    const texts: string[] = [];
    const enc = (s: string) => (texts.push(s), [...s].map((ch) => ch.charCodeAt(0)));
    const reqs = [' A', ' B', ' C', ' D'].map((continuation) => ({ context: 'Q: x?\nAnswer:', continuation }));
    const want = reqs.map((r) => encodePair((s) => [...s].map((ch) => ch.charCodeAt(0)), r));
    expect(encodePairs(enc, reqs)).toEqual(want);
    console.log(`encodes for 4 choices: ${texts.length} (encodePair alone: 8)`);
    expect(texts.length).toBe(5);
  });

  it('streams each item with the exact strings scored, takes a prompt, and breaks down by category', async () => {
    const cat: MultipleChoiceItem[] = [
      { question: 'q1', choices: ['a', 'b'], answer: 0, category: 'x' },
      { question: 'q2', choices: ['c', 'd'], answer: 0, category: 'y' },
      { question: 'q3', choices: ['e', 'f'], answer: 1, category: 'x' },
    ];
    const seen: TextRequest[] = [];
    const streamed: [number, string][] = [];
    const r = await evaluateMultipleChoice(
      cat,
      async (reqs) => {
        seen.push(...reqs);
        return reqs.map((q) => (q.continuation === '>a' || q.continuation === '>d' || q.continuation === '>f' ? -1 : -2));
      },
      {
        itemsPerBatch: 2,
        prompt: (item) => ({ context: `[${item.question}]`, choices: item.choices, delimiter: '>' }),
        onItem: (res, i) => streamed.push([i, res.context]),
      },
    );
    expect(streamed).toEqual([[0, '[q1]'], [1, '[q2]'], [2, '[q3]']]);
    expect(seen[0]).toEqual({ context: '[q1]', continuation: '>a' });
    expect(r.items[1]).toMatchObject({ context: '[q2]', continuations: ['>c', '>d'], logProbs: [-2, -1], pred: 1, correct: false, category: 'y' });
    expect(r.acc).toBeCloseTo(2 / 3, 12);
    expect(r.byCategory.x).toMatchObject({ n: 2, acc: 1, accNorm: 1 });
    expect(r.byCategory.y).toMatchObject({ n: 1, acc: 0 });
    // 95% Wilson interval of 2/3 (n = 3), and lm-eval's stderr sqrt(p(1-p)/(n-1))
    expect(r.ci95.lo).toBeCloseTo(0.2077, 4);
    expect(r.ci95.hi).toBeCloseTo(0.9385, 4);
    expect(r.stderr).toBeCloseTo(Math.sqrt((2 / 3) * (1 / 3) / 2), 12);
  });

  it('acc_norm divides by the choice length without the delimiter, as lm-eval (len(choice))', async () => {
    // " a" −1.1 vs " bb" −2: per choice byte −1.1 vs −1 → 1; per continuation byte (with the space) −0.55 vs −0.67 → 0
    const r = await evaluateMultipleChoice([{ question: 'q', choices: ['a', 'bb'], answer: 1 }], async () => [-1.1, -2]);
    expect(r.items[0]!.predNorm).toBe(1);
  });

  it('parses the shipped benchmark and names the line of a bad item', () => {
    const shipped = parseMultipleChoiceJsonl(readFileSync('public/benchmarks/materials-bio-mc.jsonl', 'utf8'));
    expect(shipped.length).toBeGreaterThanOrEqual(20);
    expect(() => parseMultipleChoiceJsonl('{"question":"q","choices":["a","b"],"answer":0}\n{"question":"q","choices":["a"],"answer":0}', 'b.jsonl')).toThrow(
      /b\.jsonl:2: "choices"/,
    );
  });
});
