// The Data panel's tolerant reading: every bad row collected with its line (capped, all counted), the good rows kept,
// and for a clean file exactly the rows of the strict reader that training uses.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { goodRowsJsonl, inspectDataset } from '../../../src/io/datasets/inspect.ts';
import { readDataset } from '../../../src/io/datasets/shapes.ts';

const pc = (p: string, c: string) => JSON.stringify({ prompt: p, completion: c });

describe('inspectDataset', () => {
  it('collects every malformed JSONL line with its number and keeps the good rows', () => {
    const text = [pc('a', ' b'), '{"prompt": "x", ', pc('c', ' d'), '[1, 2]', '', JSON.stringify({ foo: 1 }), pc('e', ' f'), '{"text": "other shape"}'].join('\n');
    const r = inspectDataset(text, 'mine.jsonl');
    expect(r.shape?.id).toBe('prompt-completion');
    expect(r.rows.map((x) => x.line)).toEqual([1, 3, 7]);
    expect(r.issues.map((i) => i.line)).toEqual([2, 4, 6, 8]);
    expect(r.issueCount).toBe(4);
    expect(r.issues[0]!.reason).toMatch(/^not valid JSON/);
    expect(r.issues[1]!.reason).toBe('expected a JSON object, got an array');
    expect(r.issues[2]!.reason).toBe('no known row shape; this row has "foo"');
    expect(r.issues[3]!.reason).toMatch(/^this row is Plain text \{text\}, but the file's rows are Prompt \/ completion/);
    expect(r.columns).toEqual(['prompt', 'completion']);
    // the strict reader stops at the first of them
    expect(() => readDataset(text, 'mine.jsonl')).toThrow(/mine\.jsonl line 2: not valid JSON/);
  });

  it('caps the kept problems but counts them all', () => {
    const lines = Array.from({ length: 250 }, (_, i) => (i % 2 ? 'nope' : pc(`q${i}`, ' a')));
    const r = inspectDataset(lines.join('\n'), 'x.jsonl', { maxIssues: 100 });
    expect(r.issueCount).toBe(125);
    expect(r.issues).toHaveLength(100);
    expect(r.issues[99]!.line).toBe(200);
    expect(r.rows).toHaveLength(125);
  });

  it('reports conversion failures (a bad field of a known shape) with the field', () => {
    const text = [JSON.stringify({ instruction: 'a', output: 'b' }), JSON.stringify({ instruction: 3, output: 'b' })].join('\n');
    const r = inspectDataset(text, 'alp.jsonl');
    expect(r.shape?.id).toBe('alpaca');
    expect(r.rows).toHaveLength(1);
    expect(r.issues).toEqual([{ line: 2, reason: '"instruction" must be a string, got number', field: 'instruction' }]);
  });

  it('gives the strict reader’s rows for clean files of every format', () => {
    for (const f of ['corpus.txt', 'sft.jsonl', 'sft-chat.jsonl', 'preference.jsonl']) {
      const text = readFileSync(`public/demo/data/${f}`, 'utf8');
      const r = inspectDataset(text, f);
      const s = readDataset(text, f);
      expect(r.issueCount, f).toBe(0);
      expect(r.shape, f).toEqual(s.shape);
      expect(r.rows.map((x) => ({ line: x.line, value: x.value })), f).toEqual(s.rows);
    }
    const csv = 'prompt,completion\n"a, b"," c"\nd," e"\n';
    expect(inspectDataset(csv, 'a.csv').rows.map((x) => ({ line: x.line, value: x.value }))).toEqual(readDataset(csv, 'a.csv').rows);
    const json = '[\n  {"text": "one"},\n  {"text": "two"}\n]';
    expect(inspectDataset(json, 'a.json').rows.map((x) => ({ line: x.line, value: x.value }))).toEqual(readDataset(json, 'a.json').rows);
  });

  it('CSV: wrong field counts and a broken quote are each reported, reading on after them', () => {
    const csv = ['prompt,completion', 'a, b', 'c', 'd,"e" x', 'f, g', 'h,i,j', 'k, l'].join('\n');
    const r = inspectDataset(csv, 'd.csv');
    expect(r.rows.map((x) => x.line)).toEqual([2, 5, 7]);
    expect(r.issues.map((i) => i.line)).toEqual([3, 4, 6]);
    expect(r.issues[0]!.reason).toBe('1 fields, but the header has 2 (prompt, completion)');
    expect(r.issues[1]!.reason).toMatch(/text after a closing quote/);
    expect(inspectDataset('a,b\n1,2\n', 'h.csv').issues).toEqual([{ line: 1, reason: expect.stringMatching(/names no known shape/) }]);
  });

  it('JSON arrays: a syntax error names its line; non-object elements each', () => {
    const r = inspectDataset('[\n {"text": "a"},\n 5,\n {"text": "b"}\n]', 'a.json');
    expect(r.rows.map((x) => x.line)).toEqual([2, 4]);
    expect(r.issues).toEqual([{ line: 3, reason: 'row 2 of the array is not a JSON object (number)' }]);
    const bad = inspectDataset('[\n {"text": "a"},\n {"text": }\n]', 'b.json');
    expect(bad.rows).toEqual([]);
    expect(bad.issues[0]!.line).toBe(3);
  });

  it('empty files are one problem, not a crash', () => {
    expect(inspectDataset('', 'e.jsonl').issues).toEqual([{ line: null, reason: 'no rows' }]);
    expect(inspectDataset('  \n', 'e.txt').issues).toEqual([{ line: null, reason: 'no text' }]);
  });

  it('the good rows as JSONL read back strictly to the same rows', () => {
    const text = [pc('a', ' b'), 'oops', pc('c', ' d')].join('\n');
    const r = inspectDataset(text, 'm.jsonl');
    const clean = readDataset(goodRowsJsonl(r), 'm.clean.jsonl');
    expect(clean.shape.id).toBe('prompt-completion');
    expect(clean.rows.map((x) => x.value)).toEqual(r.rows.map((x) => x.value));
  });
});
