// Parsing and validating a safetensors header, with the rules of the reference implementation
// (safetensors/src/tensor.rs): a bad file is refused here, with its file and tensor named, before any data is read.
import { AlloyError } from '../../common/errors.ts';
import { DTYPES, dtypeBytes, isDType, type DType } from './dtypes.ts';

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** offsets relative to the start of the data region (just after the header); end is exclusive */
  begin: number;
  end: number;
  /**
   * Set by a checkpoint for a tensor stored as ggml blocks of this type (io/safetensors/checkpoint.ts, "ggml
   * blocks"): `shape` is then the logical [rows, cols], `dtype` F32 (what readRaw / readF32 give: the
   * de-quantised values) and `begin`..`end` the stored blocks.
   */
  ggmlType?: string;
}

export interface SafetensorsHeader {
  metadata: Record<string, string>;
  /** in data order (sorted by offset) */
  tensors: TensorInfo[];
}

/** The reference's limit; a larger header is far more likely a corrupt length than a real file. */
export const MAX_HEADER_BYTES = 100_000_000;
export const METADATA_KEY = '__metadata__';

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Validates the header length read from the first 8 bytes against the file's size. */
export function checkHeaderLength(n: number | bigint, fileName: string, fileSize: number): number {
  const fail = (msg: string) => new AlloyError(`${fileName}: ${msg}`, { file: fileName });
  if (BigInt(n) > BigInt(MAX_HEADER_BYTES)) {
    throw fail(`header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupt or not a safetensors file)`);
  }
  const len = Number(n);
  if (len > fileSize - 8) {
    throw fail(
      `header length ${len} is larger than the file allows (${fileSize} bytes in all): the file is truncated ` +
        `or not a safetensors file`,
    );
  }
  if (len < 2) throw fail(`header length ${len} is too small to hold a JSON object`);
  return len;
}

export function parseHeader(headerBytes: Uint8Array, fileName: string, fileSize: number): SafetensorsHeader {
  const n = checkHeaderLength(headerBytes.byteLength, fileName, fileSize);
  const dataSize = fileSize - 8 - n;
  const fail = (msg: string, tensor?: string, field?: string) =>
    new AlloyError(`${fileName}: ${tensor !== undefined ? `tensor "${tensor}": ` : ''}${msg}`, {
      file: fileName,
      ...(tensor !== undefined ? { tensor } : {}),
      ...(field !== undefined ? { field } : {}),
    });

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw fail('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw fail(`header does not start with "{" (starts with ${JSON.stringify(text.slice(0, 16))})`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(json)) throw fail('header is not a JSON object');
  const dup = firstDuplicateTopLevelKey(text);
  if (dup !== undefined) throw fail(`header names this key twice`, dup);

  const metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, raw] of Object.entries(json)) {
    if (name === METADATA_KEY) {
      if (!isPlainObject(raw)) throw fail(`"${METADATA_KEY}" must be an object of strings`, undefined, METADATA_KEY);
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string') {
          throw fail(`"${METADATA_KEY}"."${k}" must be a string, got ${JSON.stringify(v)}`, undefined, `${METADATA_KEY}.${k}`);
        }
        metadata[k] = v;
      }
      continue;
    }
    if (!isPlainObject(raw)) throw fail('entry is not an object with dtype, shape and data_offsets', name);
    const { dtype, shape, data_offsets: offsets } = raw;
    if (!isDType(dtype)) {
      throw fail(`unknown dtype ${JSON.stringify(dtype)} (supported: ${DTYPES.join(', ')})`, name, 'dtype');
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      throw fail(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`, name, 'shape');
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      throw fail(`data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`, name, 'data_offsets');
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) throw fail(`data_offsets [${begin}, ${end}] end before they begin`, name, 'data_offsets');
    const bytes = numel(shape) * dtypeBytes(dtype);
    if (!Number.isSafeInteger(bytes)) throw fail(`shape ${JSON.stringify(shape)} is too large`, name, 'shape');
    if (bytes !== end - begin) {
      throw fail(
        `shape ${JSON.stringify(shape)} × ${dtype} needs ${bytes} bytes but data_offsets span ${end - begin}`,
        name,
        'data_offsets',
      );
    }
    if (end > dataSize) {
      throw fail(
        `data_offsets [${begin}, ${end}] run past the end of the data region (${dataSize} bytes): ` +
          `the file is truncated or the offsets are corrupt`,
        name,
        'data_offsets',
      );
    }
    tensors.push({ name, dtype, shape: shape as number[], begin, end });
  }

  // The reference requires the tensors, in offset order, to tile the data region exactly: no overlap, no hole.
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  let prev: TensorInfo | undefined;
  for (const t of tensors) {
    if (t.begin < expected) {
      throw fail(
        `data_offsets [${t.begin}, ${t.end}] overlap tensor "${prev!.name}" [${prev!.begin}, ${prev!.end}]`,
        t.name,
        'data_offsets',
      );
    }
    if (t.begin > expected) {
      throw fail(
        `data_offsets [${t.begin}, ${t.end}] leave a hole of ${t.begin - expected} bytes after ` +
          (prev ? `tensor "${prev.name}"` : 'the start of the data region'),
        t.name,
        'data_offsets',
      );
    }
    expected = t.end;
    prev = t;
  }
  if (expected !== dataSize) {
    throw fail(
      `file is ${fileSize} bytes but its header (${n} bytes) and tensors (${expected} bytes) account for ` +
        `${8 + n + expected}: ${dataSize - expected} unexplained trailing bytes`,
    );
  }
  return { metadata, tensors };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * JSON.parse keeps the last of duplicate keys silently, but the reference refuses them, so the top-level keys
 * are scanned separately. Only called on text JSON.parse accepted, so the scanner need not validate.
 */
export function firstDuplicateTopLevelKey(text: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      if (depth === 1) expectKey = true;
    } else if (c === '}' || c === ']') {
      depth--;
    } else if (c === ',' && depth === 1) {
      expectKey = true;
    }
  }
  return undefined;
}
