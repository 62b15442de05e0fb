// Multiple-choice JSONL in the shapes datasets ship (Alloy's own, ARC both ways, lm-eval's query/gold, HellaSwag),
// answers as index / letter / text / label, categories; a malformed line names file and line.
import { describe, expect, it } from 'vitest';
import { hellaswagPreprocess, parseMultipleChoiceJsonl } from '../../../src/io/benchmarks/multiple-choice.ts';

const one = (o: unknown) => parseMultipleChoiceJsonl(JSON.stringify(o), 'b.jsonl')[0]!;

describe('multiple-choice JSONL', () => {
  it('reads {question, choices, answer} with the answer as index, letter or choice text', () => {
    const base = { question: 'Which?', choices: ['red', 'green', 'blue'] };
    expect(one({ ...base, answer: 2 })).toEqual({ question: 'Which?', choices: ['red', 'green', 'blue'], answer: 2 });
    expect(one({ ...base, answer: 'B' }).answer).toBe(1);
    expect(one({ ...base, answer: 'blue' }).answer).toBe(2);
    expect(one({ ...base, answer: 0, category: 'colours' }).category).toBe('colours');
    expect(one({ ...base, answer: 0, subject: 'art' }).category).toBe('art');
  });

  it('reads ARC as AI2 ships it and as the Hub ships it, answerKey by label', () => {
    const ai2 = { question: { stem: 'Sky?', choices: [{ label: '1', text: 'blue' }, { label: '2', text: 'green' }] }, answerKey: '2' };
    expect(one(ai2)).toEqual({ question: 'Sky?', choices: ['blue', 'green'], answer: 1 });
    const hub = { question: 'Sky?', choices: { label: ['A', 'B', 'C'], text: ['blue', 'green', 'red'] }, answerKey: 'C' };
    expect(one(hub)).toEqual({ question: 'Sky?', choices: ['blue', 'green', 'red'], answer: 2 });
  });

  it('reads lm-eval docs {query, choices, gold}: the query is the context', () => {
    expect(one({ query: 'Question: 2+2?\nAnswer:', choices: ['3', '4'], gold: 1 })).toEqual({
      question: 'Question: 2+2?\nAnswer:',
      context: 'Question: 2+2?\nAnswer:',
      choices: ['3', '4'],
      answer: 1,
    });
  });

  it('reads HellaSwag with lm-eval preprocessing: activity_label + ": " + ctx_a + " " + ctx_b.capitalize()', () => {
    const item = one({
      activity_label: 'Removing ice from car',
      ctx_a: 'Then, the man writes over the snow [title] covering the window.',
      ctx_b: 'a woman WEARING',
      ctx: 'unused when ctx_a is there',
      endings: [' a hat  and gloves. ', 'skis.'],
      label: '1',
    });
    expect(item.context).toBe('Removing ice from car: Then, the man writes over the snow. covering the window. A woman wearing');
    expect(item.choices).toEqual(['a hat and gloves.', 'skis.']);
    expect(item.answer).toBe(1);
    expect(one({ ctx: 'A cat sits', endings: ['down.', 'up.'], label: 0 })).toMatchObject({ context: 'A cat sits', answer: 0 });
    expect(hellaswagPreprocess(' x [header] y  z ')).toBe('x y z');
  });

  it('refuses an answer that is both a choice text and another choice letter', () => {
    expect(() => one({ question: 'q', choices: ['B', 'A'], answer: 'A' })).toThrow(/b\.jsonl:1: "answer" "A" is both the text of choice 2 and letter of choice 1/);
  });

  it('names file and line of every malformed item', () => {
    const good = JSON.stringify({ question: 'q', choices: ['a', 'b'], answer: 0 });
    const cases: [string, RegExp][] = [
      ['{"question": "q", "choices": ["a", "b"], "answer": 0', /bad\.jsonl:3: not valid JSON/],
      ['[1, 2]', /bad\.jsonl:3: each line must be a JSON object/],
      ['{"question": "q", "choices": ["a"], "answer": 0}', /bad\.jsonl:3: "choices" must list at least two/],
      ['{"question": "q", "choices": ["a", "b"], "answer": 2}', /bad\.jsonl:3: "answer" must be the index, letter or text/],
      ['{"question": "q", "choices": ["a", "b"], "answer": "Z"}', /bad\.jsonl:3: "answer"/],
      ['{"question": "q", "choices": {"label": ["A", "B"], "text": ["a", "b"]}, "answerKey": "E"}', /bad\.jsonl:3: "answerKey" "E" is not one of the labels A, B/],
      ['{"query": "q", "choices": ["a", "b"], "gold": -1}', /bad\.jsonl:3: "gold"/],
      ['{"ctx": "c", "endings": ["a", "b"], "label": "7"}', /bad\.jsonl:3: "label"/],
      ['{"question": "q", "choices": ["a", "b"], "answer": 0, "category": 3}', /bad\.jsonl:3: "category" must be a non-empty string/],
      ['{"prompt": "q"}', /bad\.jsonl:3: expected \{question, choices, answer\}/],
    ];
    for (const [line, re] of cases) {
      const err = (() => {
        try {
          parseMultipleChoiceJsonl(`${good}\n\n${line}\n`, 'bad.jsonl');
        } catch (e) {
          return e as Error & { where?: unknown };
        }
        throw new Error(`accepted: ${line}`);
      })();
      expect(err.message).toMatch(re);
      expect(err.where).toMatchObject({ file: 'bad.jsonl', line: 3 });
    }
    expect(() => parseMultipleChoiceJsonl('\n\n', 'empty.jsonl')).toThrow(/empty\.jsonl: no items/);
  });
});
