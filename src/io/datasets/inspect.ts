/**
 * The tolerant reading of a dataset file, for the Data panel: every malformed row is collected with its line and the
 * reason (up to `maxIssues`, all of them counted) and the good rows are kept, so a person sees the whole list of
 * what to fix next to a preview of what did parse. Training keeps the strict reader (shapes.ts readDataset), which
 * stops at the first bad row; for a file without problems both give the same rows.
 *
 * Per format: JSONL reads on after a bad line; a JSON array that does not parse is one problem (its line), an element
 * that is not an object is one problem each; CSV: a record with the wrong number of fields is one problem, a broken
 * quote is one problem and reading resumes on the next line (what follows may then report more); TXT has no bad rows.
 * Rows must share one shape: the most common one (the earliest on a tie) is the file's shape and every row of
 * another shape, or of none, is a problem naming the fields it has.
 */
import { AlloyError } from '../../common/errors.ts';
import { parseCsvRecords, type CsvRecord } from './csv.ts';
import type { JsonlRow } from './rows.ts';
import { SHAPES, detectShape, elementLines, formatOf, toTrlRow, txtRows, type ConvertOptions, type FileFormat, type ShapeId, type ShapeInfo } from './shapes.ts';

export interface DatasetIssue {
  /** 1-based line of the file; null when the problem is the file as a whole */
  line: number | null;
  reason: string;
  field?: string;
}

export interface InspectedRow {
  line: number;
  /** the row as the file has it (CSV: its named columns, TXT: {text}) */
  raw: Record<string, unknown>;
  /** the row in TRL's shape (what rowsToSequences takes) */
  value: Record<string, unknown>;
}

export interface DatasetInspection {
  file: string;
  format: FileFormat;
  /** null when no row has a known shape */
  shape: ShapeInfo | null;
  /** the good rows, in file order */
  rows: InspectedRow[];
  /** the first `maxIssues` problems, in line order */
  issues: DatasetIssue[];
  /** every problem found (may exceed issues.length) */
  issueCount: number;
  /** the fields of the good rows, in first-seen order (the preview's columns) */
  columns: string[];
}

export interface InspectOptions extends ConvertOptions {
  format?: FileFormat;
  txt?: 'paragraphs' | 'document';
  /** problems kept (all are counted); default 100 */
  maxIssues?: number;
}

export const MAX_ISSUES = 100;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const kindOf = (v: unknown) => (Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v);

/** Reads `text` collecting every bad row instead of stopping at the first. Never throws for bad data. */
export function inspectDataset(text: string, file = 'dataset', options: InspectOptions = {}): DatasetInspection {
  const format = options.format ?? formatOf(file);
  const max = options.maxIssues ?? MAX_ISSUES;
  const all: DatasetIssue[] = [];
  const issue = (line: number | null, reason: string, field?: string) => all.push({ line, reason, ...(field ? { field } : {}) });
  const raw =
    format === 'csv' ? csvRows(text, file, issue) : format === 'txt' ? txt(text, file, options.txt ?? 'paragraphs', issue) : format === 'json' ? jsonRows(text, issue) : jsonlRows(text, issue);

  // the file's shape: the most common row shape, the earliest on a tie
  const shapes = raw.map((r) => detectShape(r.value));
  const counts = new Map<ShapeId, number>();
  for (const s of shapes) if (s) counts.set(s, (counts.get(s) ?? 0) + 1);
  let shape: ShapeId | null = null;
  for (const s of shapes) if (s && (shape === null || counts.get(s)! > counts.get(shape)!)) shape = s;

  const rows: InspectedRow[] = [];
  raw.forEach((r, i) => {
    const s = shapes[i]!;
    const fields = Object.keys(r.value).map((k) => `"${k}"`).join(', ') || 'no fields';
    if (s === null) return issue(r.line, `no known row shape; this row has ${fields}`);
    if (s !== shape) {
      const f = SHAPES[shape!];
      return issue(r.line, `this row is ${SHAPES[s].label} ${SHAPES[s].fields}, but the file's rows are ${f.label} ${f.fields} (${counts.get(shape!)} rows)`);
    }
    const where = `${file} line ${r.line}`;
    try {
      rows.push({ line: r.line, raw: r.value, value: toTrlRow(r.value, s, where, file, options) });
    } catch (e) {
      const msg = (e as Error).message;
      issue(r.line, msg.startsWith(`${where}: `) ? msg.slice(where.length + 2) : msg, e instanceof AlloyError ? e.where.field : undefined);
    }
  });
  if (raw.length === 0 && all.length === 0) issue(null, 'no rows');

  all.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  const columns: string[] = [];
  for (const r of rows) for (const k of Object.keys(r.raw)) if (!columns.includes(k)) columns.push(k);
  return { file, format, shape: shape ? SHAPES[shape] : null, rows, issues: all.slice(0, max), issueCount: all.length, columns };
}

type Issue = (line: number | null, reason: string, field?: string) => void;

function jsonlRows(text: string, issue: Issue, firstLine = 1): JsonlRow[] {
  const rows: JsonlRow[] = [];
  text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .forEach((l, i) => {
      if (l.trim() === '') return;
      const line = firstLine + i;
      let v: unknown;
      try {
        v = JSON.parse(l);
      } catch (e) {
        return issue(line, `not valid JSON (${(e as Error).message})`);
      }
      if (!isObj(v)) return issue(line, `expected a JSON object, got ${kindOf(v)}`);
      rows.push({ line, value: v });
    });
  return rows;
}

/** The line of a character offset (1-based). */
const lineAt = (src: string, pos: number) => src.slice(0, pos).split('\n').length;

/**
 * The line a JSON syntax error is on, for messages that give no position: the first line whose prefix fails for
 * another reason than ending early (a line end is never inside a valid JSON string). Files above 4 MB: unknown.
 */
function errorLine(src: string): number | null {
  if (src.length > 4 * 2 ** 20) return null;
  const lines = src.split('\n');
  let prefix = '';
  for (let i = 0; i < lines.length; i++) {
    prefix += (i ? '\n' : '') + lines[i];
    try {
      JSON.parse(prefix);
    } catch (e) {
      const msg = (e as Error).message;
      if (/end of JSON input/i.test(msg)) continue;
      const pos = /position (\d+)/.exec(msg)?.[1];
      if (pos === undefined) return i + 1;
      if (Number(pos) < prefix.length) return lineAt(prefix, Number(pos));
    }
  }
  return null;
}

function jsonRows(text: string, issue: Issue): JsonlRow[] {
  const src = text.replace(/^\uFEFF/, '');
  if (!src.trimStart().startsWith('[')) return jsonlRows(src, issue);
  let data: unknown;
  try {
    data = JSON.parse(src);
  } catch (e) {
    const msg = (e as Error).message;
    const pos = /position (\d+)/.exec(msg)?.[1];
    issue(pos ? lineAt(src, Number(pos)) : errorLine(src), `not valid JSON (${msg}); the array cannot be read past it`);
    return [];
  }
  const lines = elementLines(src);
  const rows: JsonlRow[] = [];
  (data as unknown[]).forEach((v, i) => {
    const line = lines[i] ?? 1;
    if (!isObj(v)) return issue(line, `row ${i + 1} of the array is not a JSON object (${kindOf(v)})`);
    rows.push({ line, value: v });
  });
  return rows;
}

function txt(text: string, file: string, mode: 'paragraphs' | 'document', issue: Issue): JsonlRow[] {
  if (text.replace(/^\uFEFF/, '').trim() === '') {
    issue(null, 'no text');
    return [];
  }
  return txtRows(text, file, mode);
}

const CSV_COLUMNS = ['text', 'prompt', 'completion', 'chosen', 'rejected', 'instruction', 'input', 'output', 'system'];

/** CSV records, reading on after a malformed one: a broken record is reported and parsing restarts on the next line. */
function tolerantCsvRecords(text: string, file: string, issue: Issue): CsvRecord[] {
  const src = text.replace(/^\uFEFF/, '');
  const out: CsvRecord[] = [];
  let offset = 0; // lines of src before `rest`
  let rest = src;
  for (;;) {
    try {
      out.push(...parseCsvRecords(rest, file).map((r) => ({ line: r.line + offset, fields: r.fields })));
      return out;
    } catch (e) {
      const rel = e instanceof AlloyError ? e.where.line : undefined;
      if (!rel) throw e;
      const line = rel + offset;
      const msg = (e as Error).message;
      const prefix = `${file} line ${rel}: `;
      issue(line, msg.startsWith(prefix) ? msg.slice(prefix.length) : msg);
      // keep the records before the bad one, then restart on the line after it
      const lines = rest.split('\n');
      const before = lines.slice(0, rel - 1).join('\n');
      if (before.trim() !== '') {
        try {
          out.push(...parseCsvRecords(before, file).map((r) => ({ line: r.line + offset, fields: r.fields })));
        } catch {
          /* already reported */
        }
      }
      if (lines.length <= rel) return out;
      rest = lines.slice(rel).join('\n');
      offset += rel;
    }
  }
}

function csvRows(text: string, file: string, issue: Issue): JsonlRow[] {
  const all = tolerantCsvRecords(text, file, issue);
  const head = all[0];
  if (!head) {
    issue(null, 'empty CSV (a header line is needed)');
    return [];
  }
  const header = head.fields.map((h) => h.trim());
  const cols = header.map((h, k) => ({ h, k })).filter(({ h }) => CSV_COLUMNS.includes(h));
  if (detectShape(Object.fromEntries(cols.map(({ h }) => [h, '']))) === null) {
    issue(head.line, `the CSV header (${header.join(', ')}) names no known shape; expected columns text · prompt, completion · prompt, chosen, rejected · instruction, input, output`);
    return [];
  }
  const rows: JsonlRow[] = [];
  for (const r of all.slice(1)) {
    if (r.fields.length !== header.length) {
      issue(r.line, `${r.fields.length} fields, but the header has ${header.length} (${header.join(', ')})`);
      continue;
    }
    rows.push({ line: r.line, value: Object.fromEntries(cols.map(({ h, k }) => [h, r.fields[k]!])) });
  }
  return rows;
}

/** The good rows as JSONL in the file's own fields (what "save without the bad rows" stores); same shape detected. */
export function goodRowsJsonl(insp: DatasetInspection): string {
  return insp.rows.map((r) => JSON.stringify(r.raw)).join('\n') + '\n';
}
