// Open questions: exact / contains / numeric matching, the "Question: …\nAnswer:" prompt with first_n shots,
// and the accuracy summary, on a fake generator.
import { describe, expect, it } from 'vitest';
import type { OpenQuestionItem } from '../../../src/io/benchmarks/types.ts';
import { evaluateOpenQuestions, firstNumber, matchAnswer, openContext } from '../../../src/engine/eval/open-questions.ts';

const q = (answer: string, match: OpenQuestionItem['match'], extra: Partial<OpenQuestionItem> = {}): OpenQuestionItem => ({ question: 'q', answer, match, ...extra });

describe('answer matching', () => {
  it('exact ignores case, spacing and a final full stop', () => {
    expect(matchAnswer(q('Paris', 'exact'), '  paris. ')).toBe(true);
    expect(matchAnswer(q('New  York', 'exact'), 'new york')).toBe(true);
    expect(matchAnswer(q('Paris', 'exact'), 'Paris, France')).toBe(false);
  });

  it('contains finds the answer inside the output', () => {
    expect(matchAnswer(q('Paris', 'contains'), 'It is Paris, France.')).toBe(true);
    expect(matchAnswer(q('Lyon', 'contains'), 'It is Paris.')).toBe(false);
  });

  it('numeric reads the first number and compares within the tolerance', () => {
    expect(firstNumber('about 1,234.5 m/s')).toBe(1234.5);
    expect(firstNumber('-3e2 or so')).toBe(-300);
    expect(firstNumber('none')).toBeNull();
    expect(matchAnswer(q('9.81', 'numeric', { tolerance: 0.01 }), 'g is 9.8 m/s^2')).toBe(true);
    expect(matchAnswer(q('9.81', 'numeric', { tolerance: 0.001 }), 'g is 9.8 m/s^2')).toBe(false);
    expect(matchAnswer(q('4', 'numeric'), '4.0000000001')).toBe(true);
    expect(matchAnswer(q('4', 'numeric'), 'four')).toBe(false);
  });
});

describe('evaluateOpenQuestions', () => {
  it('prompts with shots, streams items and summarizes with the Wilson interval', async () => {
    const items: OpenQuestionItem[] = [
      { question: '2+2?', answer: '4', match: 'numeric', category: 'math' },
      { question: 'Capital of France?', answer: 'Paris', match: 'exact', category: 'geo' },
      { question: '3*3?', answer: '9', match: 'numeric', category: 'math' },
    ];
    expect(openContext(items[1]!, [items[0]!])).toBe('Question: 2+2?\nAnswer: 4\n\nQuestion: Capital of France?\nAnswer:');
    const contexts: string[] = [];
    const streamed: number[] = [];
    const s = await evaluateOpenQuestions(
      items,
      async (c) => {
        contexts.push(c);
        return c.endsWith('2+2?\nAnswer:') ? '4' : c.endsWith('France?\nAnswer:') ? 'Paris' : '6';
      },
      { shots: 1, onItem: (_, i) => streamed.push(i) },
    );
    expect(contexts[0]).toBe('Question: Capital of France?\nAnswer: Paris\n\nQuestion: 2+2?\nAnswer:');
    expect(streamed).toEqual([0, 1, 2]);
    expect(s.items.map((r) => r.correct)).toEqual([true, true, false]);
    expect(s.n).toBe(3);
    expect(s.acc).toBeCloseTo(2 / 3, 12);
    expect(s.byCategory.math!.acc).toBe(0.5);
    expect(s.byCategory.geo!.acc).toBe(1);
    expect(s.ci95.lo).toBeGreaterThan(0);
    expect(s.ci95.hi).toBeLessThan(1);
  });
});
