// MMLU CSVs: the shared chemistry/biology subjects parse to the row counts Python's csv module gives (quoted commas
// and line breaks included), the subject comes from the file name, bad rows name file and line.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { mmluFileName, parseMmluCsv, subjectTitle } from '../../../src/io/benchmarks/mmlu.ts';

const MMLU = resolve(process.cwd(), '../shared/data/benchmarks/mmlu');

function shared(split: string, subject: string): string {
  const p = join(MMLU, split, `${subject}_${split}.csv`);
  if (!existsSync(p)) throw new Error(`missing shared test data ${p}: these tests need ../shared/data (see its README)`);
  return p;
}

describe('MMLU CSV', () => {
  it('takes subject and split from the file name', () => {
    expect(mmluFileName('/x/mmlu/test/college_chemistry_test.csv')).toEqual({ subject: 'college_chemistry', split: 'test' });
    expect(mmluFileName('high_school_biology_dev.csv')).toEqual({ subject: 'high_school_biology', split: 'dev' });
    expect(mmluFileName('anatomy.csv')).toEqual({ subject: 'anatomy', split: null });
    expect(subjectTitle('high_school_biology')).toBe('high school biology');
  });

  it('parses the shared subjects to the row counts of Python csv', () => {
    // counts from python3 csv.reader over the same files
    const want: Record<string, Record<string, number>> = {
      test: { college_biology: 144, college_chemistry: 100, high_school_biology: 310, high_school_chemistry: 204 },
      dev: { college_biology: 5, college_chemistry: 5, high_school_biology: 5, high_school_chemistry: 5 },
      val: { college_biology: 16, college_chemistry: 11, high_school_biology: 34, high_school_chemistry: 22 },
    };
    for (const [split, subjects] of Object.entries(want)) {
      for (const [subject, n] of Object.entries(subjects)) {
        const file = shared(split, subject);
        const items = parseMmluCsv(readFileSync(file, 'utf8'), file);
        expect(items, file).toHaveLength(n);
        for (const it of items) {
          expect(it.choices).toHaveLength(4);
          expect(it.category).toBe(subject);
        }
      }
    }
  });

  it('keeps quoted commas and line breaks inside a question', () => {
    const file = shared('test', 'college_chemistry');
    const items = parseMmluCsv(readFileSync(file, 'utf8'), file);
    expect(items[0]).toEqual({
      question: 'The rate, r, of a zero-order chemical reaction A → B can be expressed as which of the following?',
      choices: ['r = k ln[A]', 'r = k [A]^2', 'r = k [A]', 'r = k'],
      answer: 3,
      category: 'college_chemistry',
    });
    expect(items.some((it) => it.question.includes('\n'))).toBe(true);
  });

  it('names file and line of a bad row', () => {
    const ok = 'q1,a,b,c,d,A\n';
    expect(() => parseMmluCsv(ok + '"two\nlines",a,b,c,d\n', 'x_test.csv')).toThrow(/^x_test\.csv:2: expected 6 fields \(question,A,B,C,D,answer\), got 5/);
    expect(() => parseMmluCsv(ok + ok + 'q3,a,b,c,d,E\n', 'x_test.csv')).toThrow(/^x_test\.csv:3: answer must be one of A, B, C, D, got "E"/);
    expect(() => parseMmluCsv(ok + '"q2,a,b,c,d,A\n', 'x_test.csv')).toThrow(/^x_test\.csv line 2: a quoted field is never closed/);
    expect(() => parseMmluCsv('', 'x_test.csv')).toThrow(/x_test\.csv: no items/);
  });
});
