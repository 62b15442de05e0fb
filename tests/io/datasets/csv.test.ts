// RFC 4180 CSV: quoting, doubled quotes, line breaks in fields, CRLF, BOM, and errors that name the line.
import { describe, expect, it } from 'vitest';
import { parseCsv, parseCsvRecords } from '../../../src/io/datasets/csv.ts';

describe('CSV', () => {
  it('reads quoted commas, doubled quotes and line breaks inside fields; records keep their first line', () => {
    const text = '\uFEFFprompt,completion\r\n"What is nacre, exactly?","Layered ""bricks"" of aragonite"\r\nshort,"two\nlines"\n\nlast,row';
    expect(parseCsv(text)).toEqual({
      header: ['prompt', 'completion'],
      records: [
        { line: 2, fields: ['What is nacre, exactly?', 'Layered "bricks" of aragonite'] },
        { line: 3, fields: ['short', 'two\nlines'] },
        { line: 6, fields: ['last', 'row'] },
      ],
    });
  });

  it('keeps a quote inside an unquoted field as a character, as Python\'s csv module does', () => {
    expect(parseCsv('text\nsilk is 5" long\n').records).toEqual([{ line: 2, fields: ['silk is 5" long'] }]);
  });

  it('keeps empty fields and a trailing empty field', () => {
    expect(parseCsvRecords('a,,c,\n"",b,,\n')).toEqual([
      { line: 1, fields: ['a', '', 'c', ''] },
      { line: 2, fields: ['', 'b', '', ''] },
    ]);
  });

  it('names the line of a malformed record', () => {
    expect(() => parseCsv('text\n"never closed\nmore')).toThrow(/dataset\.csv line 2: a quoted field is never closed/);
    expect(() => parseCsv('text\n"closed"after')).toThrow(/line 2: text after a closing quote/);
    expect(() => parseCsv('prompt,completion\na,b\nonly one')).toThrow(/line 3: 1 fields, but the header has 2 \(prompt, completion\)/);
    expect(() => parseCsv('text,text\na,b')).toThrow(/line 1: header names "text" twice/);
    expect(() => parseCsv('text\n')).toThrow(/no rows after the header/);
    expect(() => parseCsv('')).toThrow(/empty CSV/);
  });
});
