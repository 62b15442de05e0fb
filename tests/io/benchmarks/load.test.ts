// The benchmark kind from the file name and the first item; open questions and text documents; errors name
// file and line.
import { describe, expect, it } from 'vitest';
import { jsonlKind, parseBenchmark } from '../../../src/io/benchmarks/load.ts';
import { parseOpenQuestionsJsonl } from '../../../src/io/benchmarks/open-questions.ts';

describe('parseBenchmark', () => {
  it('tells multiple choice, open questions and text apart', () => {
    expect(jsonlKind({ question: 'q', choices: ['a', 'b'], answer: 0 })).toBe('multiple-choice');
    expect(jsonlKind({ ctx: 'c', endings: ['a', 'b'], label: 0 })).toBe('multiple-choice');
    expect(jsonlKind({ question: 'q', answer: '4' })).toBe('open');
    expect(jsonlKind({ text: 'once upon a time' })).toBe('perplexity');
    expect(parseBenchmark('q,a,b,c,d,B\n', 'college_physics_test.csv')).toEqual({
      kind: 'multiple-choice',
      format: 'mmlu',
      items: [{ question: 'q', choices: ['a', 'b', 'c', 'd'], answer: 1, category: 'college_physics' }],
    });
    expect(parseBenchmark('Some held-out prose.\n', 'held.txt')).toEqual({ kind: 'perplexity', docs: [{ text: 'Some held-out prose.\n' }] });
    expect(parseBenchmark('{"text": "a"}\n{"text": "b", "category": "x"}', 'docs.jsonl')).toEqual({
      kind: 'perplexity',
      docs: [{ text: 'a' }, { text: 'b', category: 'x' }],
    });
    expect(parseBenchmark('{"question": "2+2?", "answer": 4, "match": "numeric"}', 'open.jsonl')).toEqual({
      kind: 'open',
      items: [{ question: '2+2?', answer: '4', match: 'numeric' }],
    });
  });

  it('refuses unknown shapes and extensions, naming file and line', () => {
    expect(() => parseBenchmark('\n{"prompt": "x"}', 'what.jsonl')).toThrow(/^what\.jsonl:2: not a benchmark item/);
    expect(() => parseBenchmark('x', 'what.parquet')).toThrow(/what\.parquet: unknown benchmark format/);
    expect(() => parseBenchmark('{"text": "a"}\n{"text": 3}', 'docs.jsonl')).toThrow(/^docs\.jsonl:2: "text" must be a non-empty string/);
  });
});

describe('open questions JSONL', () => {
  it('reads match rules and tolerance', () => {
    const items = parseOpenQuestionsJsonl(
      ['{"question": "Capital of France?", "answer": "Paris"}', '{"question": "g?", "answer": "9.81", "match": "numeric", "tolerance": 0.01, "category": "physics"}', '{"question": "q", "answer": "x", "match": "contains"}'].join('\n'),
    );
    expect(items).toEqual([
      { question: 'Capital of France?', answer: 'Paris', match: 'exact' },
      { question: 'g?', answer: '9.81', match: 'numeric', tolerance: 0.01, category: 'physics' },
      { question: 'q', answer: 'x', match: 'contains' },
    ]);
  });

  it('names file and line of a bad item', () => {
    const bad: [string, RegExp][] = [
      ['{"question": "q"}', /o\.jsonl:2: "answer" must be a non-empty string or a number/],
      ['{"question": "q", "answer": "a", "match": "fuzzy"}', /o\.jsonl:2: "match" must be one of exact, contains, numeric/],
      ['{"question": "q", "answer": "a", "match": "numeric"}', /o\.jsonl:2: "answer" "a" is not a number/],
      ['{"question": "q", "answer": "1", "tolerance": 0.1}', /o\.jsonl:2: "tolerance" applies only to match "numeric"/],
      ['{"question": "q", "answer": "1", "match": "numeric", "tolerance": -1}', /o\.jsonl:2: "tolerance" must be a number ≥ 0/],
    ];
    for (const [line, re] of bad) expect(() => parseOpenQuestionsJsonl(`{"question": "ok", "answer": "y"}\n${line}`, 'o.jsonl')).toThrow(re);
  });
});
