/**
 * SLERP straight from stored tensor bytes to output bytes, in small chunks, with the numerics of
 * methods/slerp.ts bit for bit (it is the fast path of the streaming merge, not a different method):
 *   pass 1: decode a chunk of each input (BF16 is `bits << 16`, F16 a table lookup), round it to the merge's
 *           load dtype, and accumulate ⟨a,a⟩, ⟨b,b⟩, ⟨a,b⟩ in float64 in element order, exactly as dots() does;
 *   pass 2: decode again, out = fround(c0·a) + fround(c1·b) as combine() does, round to the load dtype and
 *           encode to the output dtype (round to nearest even) in the same loop.
 * Decoding twice costs less than keeping two float32 copies of a tensor: a chunk of each input and of the
 * result (8192 elements, 32 KiB each) stays in L1/L2 between the loops, and the only per-tensor allocation is
 * the output (which the caller may place in a reused buffer). Each loop is its own small function over one typed-array kind so V8 keeps it monomorphic (the
 * generic decodeToF32/encodeFromF32 switch and a per-element f32ToBf16Bits call cost ~10× more per element).
 */
import { f16Lut, f32ToF16Bits, type DType, type FloatDType } from '../../io/safetensors/dtypes.ts';
import { slerpCoefficients, type SlerpCoefficients } from './methods/slerp.ts';

export interface RawTensor {
  dtype: FloatDType;
  /** little-endian bytes as stored */
  bytes: Uint8Array;
}

export const CHUNK = 8192;

export function isFloatDType(d: DType): d is FloatDType {
  return d === 'F32' || d === 'F16' || d === 'BF16';
}

/** A typed-array view of the stored bytes (copied only when the offset is misaligned, which safetensors never is). */
type Source = { kind: 'BF16' | 'F16'; h: Uint16Array } | { kind: 'F32'; f: Float32Array };

function source(raw: RawTensor): Source {
  const size = raw.dtype === 'F32' ? 4 : 2;
  const b = raw.bytes.byteOffset % size === 0 ? raw.bytes : raw.bytes.slice();
  if (b.byteLength % size !== 0) throw new RangeError(`${b.byteLength} bytes is not a whole number of ${raw.dtype} elements`);
  return raw.dtype === 'F32'
    ? { kind: 'F32', f: new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4) }
    : { kind: raw.dtype, h: new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2) };
}

function length(s: Source): number {
  return s.kind === 'F32' ? s.f.length : s.h.length;
}

/** One chunk as float32 (through its bits), float32 scratch `f` aliasing `u`. */
class Lane {
  readonly f = new Float32Array(CHUNK);
  readonly u = new Uint32Array(this.f.buffer);
}

function decodeBf16(h: Uint16Array, start: number, len: number, u: Uint32Array): void {
  for (let j = 0; j < len; j++) u[j] = h[start + j]! << 16;
}

function decodeF16(h: Uint16Array, start: number, len: number, f: Float32Array): void {
  const lut = f16Lut();
  for (let j = 0; j < len; j++) f[j] = lut[h[start + j]!]!;
}

/** float32 → bfloat16 → float32 in place: f32ToBf16Bits's rounding (nearest even, NaN kept quiet), inlined. */
function roundBf16(u: Uint32Array, len: number): void {
  for (let j = 0; j < len; j++) {
    const bits = u[j]!;
    u[j] = (bits & 0x7fffffff) > 0x7f800000 ? (bits | 0x400000) & 0xffff0000 : (bits + 0x7fff + ((bits >>> 16) & 1)) & 0xffff0000;
  }
}

function roundF16(f: Float32Array, len: number): void {
  const lut = f16Lut();
  for (let j = 0; j < len; j++) f[j] = lut[f32ToF16Bits(f[j]!)]!;
}

/** Rounds float32 values to `d` and back (run.ts's roundTo on a chunk); F32 or null leave them as they are. */
function roundTo(d: FloatDType | null, lane: Lane, len: number): void {
  if (d === 'BF16') roundBf16(lane.u, len);
  else if (d === 'F16') roundF16(lane.f, len);
}

function loadChunk(s: Source, start: number, len: number, lane: Lane, round: FloatDType | null): void {
  if (s.kind === 'F32') lane.f.set(s.f.subarray(start, start + len));
  else if (s.kind === 'BF16') decodeBf16(s.h, start, len, lane.u);
  else decodeF16(s.h, start, len, lane.f);
  // Rounding a value to the dtype it is stored in changes nothing, so the common case skips the loop.
  if (round !== s.kind) roundTo(round, lane, len);
}

function accumulate(x: Float32Array, y: Float32Array, len: number, acc: Float64Array): void {
  let aa = acc[0]!;
  let bb = acc[1]!;
  let ab = acc[2]!;
  for (let j = 0; j < len; j++) {
    const p = x[j]!;
    const q = y[j]!;
    aa += p * p;
    bb += q * q;
    ab += p * q;
  }
  acc[0] = aa;
  acc[1] = bb;
  acc[2] = ab;
}

/** combine() + bfloat16 encode, one loop: the f32 sum goes through `f`/`u` to get its bits. */
function combineBf16(c0: number, c1: number, x: Float32Array, y: Float32Array, len: number, o: Lane, out: Uint16Array, start: number): void {
  const f = o.f;
  const u = o.u;
  for (let j = 0; j < len; j++) {
    f[j] = Math.fround(c0 * x[j]!) + Math.fround(c1 * y[j]!);
    const bits = u[j]!;
    out[start + j] = (bits & 0x7fffffff) > 0x7f800000 ? (bits >>> 16) | 0x40 : (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
  }
}

function combineF32(c0: number, c1: number, x: Float32Array, y: Float32Array, len: number, f: Float32Array): void {
  for (let j = 0; j < len; j++) f[j] = Math.fround(c0 * x[j]!) + Math.fround(c1 * y[j]!);
}

function encodeBf16(u: Uint32Array, len: number, out: Uint16Array, start: number): void {
  for (let j = 0; j < len; j++) {
    const bits = u[j]!;
    out[start + j] = (bits & 0x7fffffff) > 0x7f800000 ? (bits >>> 16) | 0x40 : (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
  }
}

function encodeF16(f: Float32Array, len: number, out: Uint16Array, start: number): void {
  for (let j = 0; j < len; j++) out[start + j] = f32ToF16Bits(f[j]!);
}

/** Reusable chunk buffers: one set per merge, so a tensor allocates nothing but its output. */
export class SlerpScratch {
  readonly a = new Lane();
  readonly b = new Lane();
  readonly o = new Lane();
  readonly acc = new Float64Array(3);
}

/** Where a result's bytes go: a fresh array by default, or a caller's reused buffer. */
export type Allocate = (bytes: number) => Uint8Array<ArrayBuffer>;
const fresh: Allocate = (bytes) => new Uint8Array(bytes);

export interface SlerpBytesResult {
  bytes: Uint8Array<ArrayBuffer>;
  coefficients: SlerpCoefficients;
  dots: [number, number, number];
}

/** ⟨a,a⟩, ⟨b,b⟩, ⟨a,b⟩ of the inputs rounded to `load` (null: as stored), float64 in element order. */
export function dotsFromBytes(a: RawTensor, b: RawTensor, load: FloatDType | null, scratch = new SlerpScratch()): [number, number, number] {
  const sa = source(a);
  const sb = source(b);
  const n = length(sa);
  if (length(sb) !== n) throw new RangeError(`slerp: tensors of ${n} and ${length(sb)} elements`);
  const acc = scratch.acc.fill(0);
  for (let start = 0; start < n; start += CHUNK) {
    const len = Math.min(CHUNK, n - start);
    loadChunk(sa, start, len, scratch.a, load);
    loadChunk(sb, start, len, scratch.b, load);
    accumulate(scratch.a.f, scratch.b.f, len, acc);
  }
  return [acc[0]!, acc[1]!, acc[2]!];
}

/**
 * s0·a + s1·b (float32 per product and sum, as combine()), rounded to `load` then encoded as `out` — what
 * run.ts did with roundTo(load, slerp(...)) and encodeFromF32(out, ...).
 */
export function combineToBytes(s0: number, s1: number, a: RawTensor, b: RawTensor, load: FloatDType | null, out: FloatDType, scratch = new SlerpScratch(), alloc = fresh): Uint8Array<ArrayBuffer> {
  const sa = source(a);
  const sb = source(b);
  const n = length(sa);
  if (length(sb) !== n) throw new RangeError(`slerp: tensors of ${n} and ${length(sb)} elements`);
  const c0 = Math.fround(s0);
  const c1 = Math.fround(s1);
  const bytes = alloc(n * (out === 'F32' ? 4 : 2));
  const out16 = new Uint16Array(bytes.buffer, bytes.byteOffset, out === 'F32' ? 0 : n);
  // Rounding to the load dtype first and then to the output dtype is one rounding when they are the same
  // (or the load dtype is float32), which is the fused loop's case.
  const fused = out === 'BF16' && (load === null || load === 'F32' || load === 'BF16');
  const { a: la, b: lb, o } = scratch;
  for (let start = 0; start < n; start += CHUNK) {
    const len = Math.min(CHUNK, n - start);
    loadChunk(sa, start, len, la, load);
    loadChunk(sb, start, len, lb, load);
    if (fused) {
      combineBf16(c0, c1, la.f, lb.f, len, o, out16, start);
      continue;
    }
    combineF32(c0, c1, la.f, lb.f, len, o.f);
    store(o, len, load, out, bytes, start);
  }
  return bytes;
}

/** Rounds a chunk of float32 results to `load` and writes it as `out` at element `start` of `bytes`. */
function store(o: Lane, len: number, load: FloatDType | null, out: FloatDType, bytes: Uint8Array<ArrayBuffer>, start: number): void {
  if (load !== out) roundTo(load, o, len);
  if (out === 'F32') new Float32Array(bytes.buffer, bytes.byteOffset + start * 4, len).set(o.f.subarray(0, len));
  else if (out === 'F16') encodeF16(o.f, len, new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2), start);
  else encodeBf16(o.u, len, new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2), start);
}

/** The whole SLERP of one tensor, bytes in, bytes out. v0 = a is the base (t = 0 gives it back). */
export function slerpBytes(t: number, a: RawTensor, b: RawTensor, load: FloatDType | null, out: FloatDType, scratch = new SlerpScratch(), alloc = fresh): SlerpBytesResult {
  const d = dotsFromBytes(a, b, load, scratch);
  const c = slerpCoefficients(t, ...d);
  return { bytes: combineToBytes(c.s0, c.s1, a, b, load, out, scratch, alloc), coefficients: c, dots: d };
}

/** The inputs as float32 (rounded to `load`), for an accelerator that takes whole float32 tensors. */
export function decodeBytes(raw: RawTensor, load: FloatDType | null, scratch = new SlerpScratch()): Float32Array<ArrayBuffer> {
  const s = source(raw);
  const n = length(s);
  const out = new Float32Array(n);
  for (let start = 0; start < n; start += CHUNK) {
    const len = Math.min(CHUNK, n - start);
    loadChunk(s, start, len, scratch.a, load);
    out.set(scratch.a.f.subarray(0, len), start);
  }
  return out;
}

/** float32 merged values → rounded to `load` → encoded as `out` (the accelerator's result, like combineToBytes's). */
export function encodeMerged(values: Float32Array, load: FloatDType | null, out: FloatDType, scratch = new SlerpScratch(), alloc = fresh): Uint8Array<ArrayBuffer> {
  const n = values.length;
  const bytes = alloc(n * (out === 'F32' ? 4 : 2));
  const o = scratch.o;
  for (let start = 0; start < n; start += CHUNK) {
    const len = Math.min(CHUNK, n - start);
    o.f.set(values.subarray(start, start + len));
    store(o, len, load, out, bytes, start);
  }
  return bytes;
}
