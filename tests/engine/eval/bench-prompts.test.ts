// The Benchmark panel's prompts: lm-eval's "Question: …\nAnswer:" with " <choice>", k seeded few-shot examples
// (never the item itself) joined by blank lines, and a chat template wrapping the whole context with the
// continuation losing its leading space; acc_norm per byte of the scored continuation.
import { describe, expect, it } from 'vitest';
import { contextFor, exampleText, fewShotIndices, predictions, requestsForItem } from '../../../src/engine/eval/bench-prompts.ts';

const items = Array.from({ length: 6 }, (_, i) => ({ question: `q${i}?`, choices: [`a${i}`, `b${i}`], answer: i % 2 }));

describe('few-shot examples', () => {
  it('draws k distinct other items, reproducibly per (seed, item)', () => {
    for (let i = 0; i < items.length; i++) {
      const s = fewShotIndices(items.length, i, 3, 1234);
      expect(s).toHaveLength(3);
      expect(new Set(s).size).toBe(3);
      expect(s).not.toContain(i);
      expect(fewShotIndices(items.length, i, 3, 1234)).toEqual(s);
    }
    expect(fewShotIndices(items.length, 0, 3, 1)).not.toEqual(fewShotIndices(items.length, 0, 3, 2));
    expect(fewShotIndices(3, 1, 10, 0).sort()).toEqual([0, 2]); // clamped to the other items
    expect(fewShotIndices(3, 1, 0, 0)).toEqual([]);
  });

  it('writes examples with their answers, then the item, separated by blank lines', () => {
    expect(exampleText(items[1]!)).toBe('Question: q1?\nAnswer: b1');
    const shots = fewShotIndices(items.length, 4, 2, 7);
    expect(contextFor(items, 4, { fewShot: 2, seed: 7 })).toBe(`${exampleText(items[shots[0]!]!)}\n\n${exampleText(items[shots[1]!]!)}\n\nQuestion: q4?\nAnswer:`);
    expect(contextFor(items, 4, { fewShot: 0, seed: 7 })).toBe('Question: q4?\nAnswer:');
  });
});

describe('requests', () => {
  it('plain: " <choice>"; chat: the template around the context and "<choice>"', () => {
    expect(requestsForItem(items, 2, { fewShot: 0, seed: 0 })).toEqual([
      { context: 'Question: q2?\nAnswer:', continuation: ' a2' },
      { context: 'Question: q2?\nAnswer:', continuation: ' b2' },
    ]);
    const chat = (u: string) => `<|im_start|>user\n${u}<|im_end|>\n<|im_start|>assistant\n`;
    expect(requestsForItem(items, 2, { fewShot: 0, seed: 0, chatTemplate: chat })).toEqual([
      { context: chat('Question: q2?\nAnswer:'), continuation: 'a2' },
      { context: chat('Question: q2?\nAnswer:'), continuation: 'b2' },
    ]);
  });

  it('acc picks the highest sum, acc_norm the highest per byte', () => {
    // " a" -1 (per byte -0.5) vs " bbbbbbbbb" -3 (per byte -0.3)
    expect(predictions([' a', ' bbbbbbbbb'], [-1, -3])).toEqual({ pred: 0, predNorm: 1 });
    expect(predictions([' x', ' y'], [-2, -2])).toEqual({ pred: 0, predNorm: 0 }); // ties: first
  });
});
