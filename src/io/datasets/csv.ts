/**
 * RFC 4180 CSV: records separated by CRLF or LF, fields by commas, a field in double quotes may hold commas,
 * line breaks and doubled quotes (""). The first record is the header. Written here rather than pulled in as a
 * dependency because the grammar is small and errors must name the file and the line a record starts on.
 *
 * Leniencies (what spreadsheets and hand-written files contain): LF or CRLF line ends, a UTF-8 BOM, a missing
 * final line break, blank lines between records (skipped), and a quote inside an unquoted field, kept as a
 * character as Python's csv module does (MMLU's loaders use it). Strictness: text after a closing quote, an
 * unterminated quote, or a record with a different number of fields than the header is an error with its line.
 */
import { AlloyError } from '../../common/errors.ts';

export interface CsvRecord {
  /** 1-based line on which the record starts (quoted fields may span lines) */
  line: number;
  fields: string[];
}

export interface CsvTable {
  header: string[];
  records: CsvRecord[];
}

/** Every record of `text`, the header first; throws naming the line of a malformed record. */
export function parseCsvRecords(text: string, file = 'dataset.csv'): CsvRecord[] {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const records: CsvRecord[] = [];
  const fail = (line: number, why: string): never => {
    throw new AlloyError(`${file} line ${line}: ${why}`, { file, line });
  };
  let i = 0;
  let line = 1;
  while (i < src.length) {
    const start = line;
    const fields: string[] = [];
    // one record
    for (;;) {
      let field = '';
      if (src[i] === '"') {
        i++;
        for (;;) {
          if (i >= src.length) fail(start, 'a quoted field is never closed (missing ")');
          const ch = src[i]!;
          if (ch === '"') {
            if (src[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (ch === '\n') line++;
          field += ch;
          i++;
        }
        const next = src[i];
        if (next !== undefined && next !== ',' && next !== '\n' && !(next === '\r' && src[i + 1] === '\n')) {
          fail(line, `text after a closing quote (field ${fields.length + 1}); a quote inside a quoted field is written ""`);
        }
      } else {
        while (i < src.length && src[i] !== ',' && src[i] !== '\n' && !(src[i] === '\r' && src[i + 1] === '\n')) {
          field += src[i];
          i++;
        }
      }
      fields.push(field);
      if (src[i] === ',') {
        i++;
        continue;
      }
      break;
    }
    // end of record: CRLF, LF or end of text
    if (src[i] === '\r') i++;
    if (src[i] === '\n') {
      i++;
      line++;
    }
    // a blank line parses as one empty field: not a record
    if (!(fields.length === 1 && fields[0] === '')) records.push({ line: start, fields });
  }
  return records;
}

/** The header and the data records; every record must have as many fields as the header. */
export function parseCsv(text: string, file = 'dataset.csv'): CsvTable {
  const all = parseCsvRecords(text, file);
  const head = all[0];
  if (!head) throw new AlloyError(`${file}: empty CSV (a header line is needed)`, { file });
  const header = head.fields.map((h) => h.trim());
  header.forEach((h, k) => {
    if (h === '') throw new AlloyError(`${file} line ${head.line}: header column ${k + 1} has no name`, { file, line: head.line });
    if (header.indexOf(h) !== k) throw new AlloyError(`${file} line ${head.line}: header names "${h}" twice`, { file, line: head.line });
  });
  const records = all.slice(1);
  for (const r of records) {
    if (r.fields.length !== header.length) {
      throw new AlloyError(`${file} line ${r.line}: ${r.fields.length} fields, but the header has ${header.length} (${header.join(', ')})`, {
        file,
        line: r.line,
      });
    }
  }
  if (records.length === 0) throw new AlloyError(`${file}: no rows after the header`, { file });
  return { header, records };
}
