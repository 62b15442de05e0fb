// What the Benchmark panel accepts as a picked or dropped file: multiple-choice JSONL (categories kept) and MMLU
// subject CSVs (prompted with lm-eval's MMLU template); other benchmark kinds are refused with a reason.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseBenchmarkFile } from '../../src/app/lib/benchmark-files.ts';

describe('parseBenchmarkFile', () => {
  it('reads the built-in benchmark with its categories', () => {
    const s = parseBenchmarkFile('materials-bio-mc.jsonl', readFileSync('public/benchmarks/materials-bio-mc.jsonl', 'utf8'), 'built-in');
    expect(s).toMatchObject({ name: 'materials-bio-mc.jsonl', origin: 'built-in', format: 'jsonl' });
    expect(s.items.length).toBeGreaterThan(20);
    expect(s.items.every((i) => typeof i.category === 'string')).toBe(true);
  });

  it('reads an MMLU subject CSV as format mmlu, the subject as category', () => {
    const csv = 'What is 2+2?,3,4,5,6,B\n"Which, with a comma?",a,b,c,d,D\n';
    const s = parseBenchmarkFile('college_math_test.csv', csv);
    expect(s.format).toBe('mmlu');
    expect(s.items).toEqual([
      { question: 'What is 2+2?', choices: ['3', '4', '5', '6'], answer: 1, category: 'college_math' },
      { question: 'Which, with a comma?', choices: ['a', 'b', 'c', 'd'], answer: 3, category: 'college_math' },
    ]);
  });

  it('refuses open questions and plain text, and names the line of a bad item', () => {
    expect(() => parseBenchmarkFile('open.jsonl', '{"question": "2+2?", "answer": "4"}\n')).toThrow(/open questions.*multiple-choice/);
    expect(() => parseBenchmarkFile('heldout.txt', 'Some text.\n')).toThrow(/perplexity/);
    expect(() => parseBenchmarkFile('bad.jsonl', '{"question": "q", "choices": ["a", "b"], "answer": 0}\n{"question": "q", "choices": ["a"], "answer": 0}\n')).toThrow(/bad\.jsonl:2/);
  });
});
