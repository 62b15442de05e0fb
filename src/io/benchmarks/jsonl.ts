// JSONL reading shared by the benchmark parsers: one JSON object per non-blank line, errors naming file and line.
import { AlloyError } from '../../common/errors.ts';

export interface JsonlRow {
  value: Record<string, unknown>;
  line: number;
}

export function readJsonl(text: string, file: string): JsonlRow[] {
  const rows: JsonlRow[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch {
      throw new AlloyError(`${file}:${i + 1}: not valid JSON`, { file, line: i + 1 });
    }
    if (o === null || typeof o !== 'object' || Array.isArray(o)) {
      throw new AlloyError(`${file}:${i + 1}: each line must be a JSON object`, { file, line: i + 1 });
    }
    rows.push({ value: o as Record<string, unknown>, line: i + 1 });
  });
  if (rows.length === 0) throw new AlloyError(`${file}: no items`, { file });
  return rows;
}

/** An error about one row: "file:line: message", with the location for the UI. */
export function rowError(file: string, line: number, message: string, field?: string): AlloyError {
  return new AlloyError(`${file}:${line}: ${message}`, { file, line, ...(field ? { field } : {}) });
}

/** The optional per-item `category` (or `subject`), which must be a string when present. */
export function categoryOf(o: Record<string, unknown>, file: string, line: number): { category?: string } {
  for (const key of ['category', 'subject'] as const) {
    const v = o[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' || v === '') throw rowError(file, line, `"${key}" must be a non-empty string`, key);
    return { category: v };
  }
  return {};
}
