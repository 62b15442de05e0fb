// Streaming safetensors writer: the header is computed from shapes alone, so it goes out first and then each
// tensor's bytes follow in turn; a lazy tensor is produced only when its turn comes (one in memory at a time).
import type { ByteSink } from '../bytes.ts';
import { AlloyError } from '../../common/errors.ts';
import { dtypeBytes, dtypeRank, isDType, type DType } from './dtypes.ts';
import { METADATA_KEY, numel } from './header.ts';

export interface TensorToWrite {
  name: string;
  dtype: DType;
  shape: readonly number[];
  /** little-endian bytes, or a function producing them when the writer reaches this tensor */
  data: Uint8Array | (() => Promise<Uint8Array>);
}

export function tensorByteSize(t: Pick<TensorToWrite, 'name' | 'dtype' | 'shape'>): number {
  if (!isDType(t.dtype)) throw new AlloyError(`tensor "${t.name}": unknown dtype ${String(t.dtype)}`, { tensor: t.name });
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new AlloyError(`tensor "${t.name}": shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`, {
      tensor: t.name,
    });
  }
  return numel(t.shape) * dtypeBytes(t.dtype);
}

/** The reference writer's order: dtype descending (largest alignment first), then name. */
export function safetensorsOrder(tensors: readonly TensorToWrite[]): TensorToWrite[] {
  return [...tensors].sort(
    (a, b) => dtypeRank(b.dtype) - dtypeRank(a.dtype) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
}

/** Header bytes (JSON padded with spaces to a multiple of 8) for tensors already in write order. */
export function encodeHeader(ordered: readonly TensorToWrite[], metadata: Record<string, string>): Uint8Array {
  // Built by hand because a JS object would move integer-like tensor names ahead of "__metadata__".
  const parts = [`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`];
  let offset = 0;
  for (const t of ordered) {
    const size = tensorByteSize(t);
    const entry = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + size] };
    parts.push(`${JSON.stringify(t.name)}:${JSON.stringify(entry)}`);
    offset += size;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  // Padding keeps the data region 8-byte aligned, so any dtype can be viewed in place after a read.
  const padded = new Uint8Array(Math.ceil(json.byteLength / 8) * 8).fill(0x20);
  padded.set(json);
  return padded;
}

/**
 * Writes one safetensors file and closes the sink. On failure the sink is left unclosed, so a sink that commits
 * on close (a temp file renamed, a cache entry) never publishes a half-written file.
 */
export async function writeSafetensors(
  sink: ByteSink,
  tensors: readonly TensorToWrite[],
  metadata: Record<string, string> = {},
): Promise<void> {
  const names = new Set<string>();
  for (const t of tensors) {
    if (t.name === METADATA_KEY || t.name === '') throw new AlloyError(`invalid tensor name "${t.name}"`, { tensor: t.name });
    if (names.has(t.name)) throw new AlloyError(`tensor "${t.name}" is given twice`, { tensor: t.name });
    names.add(t.name);
    if (t.data instanceof Uint8Array) checkLength(t, t.data);
  }
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new AlloyError(`metadata "${k}" must be a string`, { field: `${METADATA_KEY}.${k}` });
  }
  const ordered = safetensorsOrder(tensors);
  const header = encodeHeader(ordered, { format: 'pt', ...metadata });
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(header.byteLength), true);
  await sink.write(len);
  await sink.write(header);
  for (const t of ordered) {
    const data = t.data instanceof Uint8Array ? t.data : await t.data();
    checkLength(t, data);
    await sink.write(data);
  }
  await sink.close();
}

function checkLength(t: TensorToWrite, data: Uint8Array): void {
  const want = tensorByteSize(t);
  if (data.byteLength !== want) {
    throw new AlloyError(
      `tensor "${t.name}": shape ${JSON.stringify(t.shape)} × ${t.dtype} needs ${want} bytes but ${data.byteLength} were given`,
      { tensor: t.name },
    );
  }
}
