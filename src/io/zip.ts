/**
 * A store-only zip writer (no compression: safetensors barely compress, and it keeps this a page of code).
 * PKWARE APPNOTE 6.3: a local file header + data per file, then the central directory and its end record.
 * Names are UTF-8 (flag bit 11).
 *  - zipStore: entries in memory, one Uint8Array out, no zip64 (under 4 GiB; an adapter is megabytes).
 *  - zipBlob: entries as Blobs (a cached model's chunk Blobs), one Blob out assembled from header bytes and the
 *    entries' own Blobs, so the file data is never copied into memory; zip64 records where a size or offset needs
 *    them (or everywhere, with zip64: 'always'), so models over 4 GiB zip too. CRCs come first (crc32Blob).
 */
import { AlloyError, throwIfAborted } from '../common/errors.ts';

// Slicing-by-8 tables: T[0] is the classic byte table, T[k][n] = the CRC of byte n followed by k zero bytes.
const CRC_TABLES = (() => {
  const t = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[0]![n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++) t[k]![n] = (t[k - 1]![n]! >>> 8) ^ t[0]![t[k - 1]![n]! & 0xff]!;
  }
  return t;
})();

/**
 * CRC-32 (IEEE 802.3, as zip and gzip use). `prev` continues a running CRC as zlib's crc32(data, value) does:
 * crc32(b, crc32(a)) === crc32(a ‖ b).
 */
export function crc32(bytes: Uint8Array, prev = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  let c = (prev ^ 0xffffffff) >>> 0;
  let i = 0;
  const n8 = bytes.length - (bytes.length % 8);
  for (; i < n8; i += 8) {
    const a = (c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))) >>> 0;
    c =
      t7[a & 0xff]! ^ t6[(a >>> 8) & 0xff]! ^ t5[(a >>> 16) & 0xff]! ^ t4[a >>> 24]! ^
      t3[bytes[i + 4]!]! ^ t2[bytes[i + 5]!]! ^ t1[bytes[i + 6]!]! ^ t0[bytes[i + 7]!]!;
  }
  for (; i < bytes.length; i++) c = t0[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface BlobReadOptions {
  signal?: AbortSignal;
  /** called after each slice with its byte count (for a progress meter) */
  onBytes?: (n: number) => void;
  /** bytes read per slice; default 8 MiB */
  sliceBytes?: number;
}

/** CRC-32 of a Blob, read slice by slice (never the whole Blob in memory); throws CancelledError on abort. */
export async function crc32Blob(blob: Blob, opts: BlobReadOptions = {}): Promise<number> {
  const step = opts.sliceBytes ?? 8 * 1024 * 1024;
  let crc = 0;
  for (let at = 0; at < blob.size; at += step) {
    throwIfAborted(opts.signal, 'zip');
    const bytes = new Uint8Array(await blob.slice(at, Math.min(blob.size, at + step)).arrayBuffer());
    crc = crc32(bytes, crc);
    opts.onBytes?.(bytes.length);
  }
  return crc;
}

export interface ZipEntry {
  name: string;
  data: Uint8Array;
}

/** MS-DOS date and time of `d` (local time, 2-second resolution), as zip headers hold them. */
function dosDateTime(d: Date): { time: number; date: number } {
  const year = Math.max(1980, d.getFullYear());
  return {
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1),
    date: ((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
  };
}

export function zipStore(entries: readonly ZipEntry[], modified = new Date()): Uint8Array<ArrayBuffer> {
  const enc = new TextEncoder();
  const { time, date } = dosDateTime(modified);
  const names = entries.map((e) => enc.encode(e.name));
  const seen = new Set<string>();
  for (const e of entries) {
    if (seen.has(e.name)) throw new AlloyError(`zip: "${e.name}" given twice`, { file: e.name });
    seen.add(e.name);
  }
  const localSize = entries.reduce((s, e, i) => s + 30 + names[i]!.length + e.data.length, 0);
  const centralSize = names.reduce((s, n) => s + 46 + n.length, 0);
  const total = localSize + centralSize + 22;
  if (total > 0xffffffff || entries.length > 0xffff) throw new AlloyError('zip: the archive would need zip64 (over 4 GiB or 65535 files)');
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  let at = 0;
  const offsets: number[] = [];
  const crcs = entries.map((e) => crc32(e.data));
  entries.forEach((e, i) => {
    offsets.push(at);
    const name = names[i]!;
    v.setUint32(at, 0x04034b50, true);
    v.setUint16(at + 4, 20, true); // version needed: 2.0
    v.setUint16(at + 6, 0x0800, true); // UTF-8 names
    v.setUint16(at + 8, 0, true); // stored
    v.setUint16(at + 10, time, true);
    v.setUint16(at + 12, date, true);
    v.setUint32(at + 14, crcs[i]!, true);
    v.setUint32(at + 18, e.data.length, true);
    v.setUint32(at + 22, e.data.length, true);
    v.setUint16(at + 26, name.length, true);
    v.setUint16(at + 28, 0, true);
    out.set(name, at + 30);
    out.set(e.data, at + 30 + name.length);
    at += 30 + name.length + e.data.length;
  });
  const cdStart = at;
  entries.forEach((e, i) => {
    const name = names[i]!;
    v.setUint32(at, 0x02014b50, true);
    v.setUint16(at + 4, 20, true); // made by: 2.0
    v.setUint16(at + 6, 20, true);
    v.setUint16(at + 8, 0x0800, true);
    v.setUint16(at + 10, 0, true);
    v.setUint16(at + 12, time, true);
    v.setUint16(at + 14, date, true);
    v.setUint32(at + 16, crcs[i]!, true);
    v.setUint32(at + 20, e.data.length, true);
    v.setUint32(at + 24, e.data.length, true);
    v.setUint16(at + 28, name.length, true);
    // extra, comment, disk number, internal attributes, external attributes: 0
    v.setUint32(at + 42, offsets[i]!, true);
    out.set(name, at + 46);
    at += 46 + name.length;
  });
  v.setUint32(at, 0x06054b50, true);
  v.setUint16(at + 8, entries.length, true);
  v.setUint16(at + 10, entries.length, true);
  v.setUint32(at + 12, at - cdStart, true);
  v.setUint32(at + 16, cdStart, true);
  return out;
}

export interface ZipBlobEntry {
  name: string;
  data: Blob;
  /** CRC-32 of data (crc32Blob) */
  crc: number;
}

export interface ZipBlobOptions {
  modified?: Date;
  /** 'auto' (default): zip64 records only where a size, offset or count needs them; 'always': for every entry */
  zip64?: 'auto' | 'always';
}

const MAX32 = 0xffffffff;

/** Little-endian header bytes, built field by field. */
class Header {
  readonly bytes: Uint8Array<ArrayBuffer>;
  private readonly v: DataView;
  private at = 0;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.v = new DataView(this.bytes.buffer);
  }
  u16(x: number) {
    this.v.setUint16(this.at, x, true);
    this.at += 2;
    return this;
  }
  u32(x: number) {
    this.v.setUint32(this.at, x, true);
    this.at += 4;
    return this;
  }
  u64(x: number) {
    this.v.setBigUint64(this.at, BigInt(x), true);
    this.at += 8;
    return this;
  }
  raw(b: Uint8Array) {
    this.bytes.set(b, this.at);
    this.at += b.length;
    return this;
  }
}

/**
 * A store-only zip as one Blob: [local header, entry Blob]… central directory, (zip64 end records), end record.
 * The entries' Blobs are parts of the result, not copies, so zipping a cached model costs header bytes only.
 */
export function zipBlob(entries: readonly ZipBlobEntry[], opts: ZipBlobOptions = {}): Blob {
  const enc = new TextEncoder();
  const { time, date } = dosDateTime(opts.modified ?? new Date());
  const always = opts.zip64 === 'always';
  const seen = new Set<string>();
  const parts: BlobPart[] = [];
  const central: Uint8Array<ArrayBuffer>[] = [];
  let offset = 0;
  for (const e of entries) {
    if (seen.has(e.name)) throw new AlloyError(`zip: "${e.name}" given twice`, { file: e.name });
    seen.add(e.name);
    const name = enc.encode(e.name);
    const size = e.data.size;
    const big = always || size >= MAX32 || offset >= MAX32;
    const version = big ? 45 : 20;
    const local = new Header(30 + name.length + (big ? 20 : 0))
      .u32(0x04034b50).u16(version).u16(0x0800).u16(0).u16(time).u16(date).u32(e.crc >>> 0)
      .u32(big ? MAX32 : size).u32(big ? MAX32 : size).u16(name.length).u16(big ? 20 : 0).raw(name);
    if (big) local.u16(0x0001).u16(16).u64(size).u64(size);
    const cd = new Header(46 + name.length + (big ? 28 : 0))
      .u32(0x02014b50).u16(version).u16(version).u16(0x0800).u16(0).u16(time).u16(date).u32(e.crc >>> 0)
      .u32(big ? MAX32 : size).u32(big ? MAX32 : size).u16(name.length).u16(big ? 28 : 0)
      .u16(0).u16(0).u16(0).u32(0).u32(big ? MAX32 : offset).raw(name);
    if (big) cd.u16(0x0001).u16(24).u64(size).u64(size).u64(offset);
    parts.push(local.bytes, e.data);
    central.push(cd.bytes);
    offset += local.bytes.length + size;
  }
  const cdStart = offset;
  const cdSize = central.reduce((n, b) => n + b.length, 0);
  parts.push(...central);
  const n = entries.length;
  const big = always || n >= 0xffff || cdStart >= MAX32 || cdSize >= MAX32;
  if (big) {
    const eocd64At = cdStart + cdSize;
    parts.push(
      new Header(56).u32(0x06064b50).u64(44).u16(45).u16(45).u32(0).u32(0).u64(n).u64(n).u64(cdSize).u64(cdStart).bytes,
      new Header(20).u32(0x07064b50).u32(0).u64(eocd64At).u32(1).bytes,
    );
  }
  parts.push(
    new Header(22)
      .u32(0x06054b50).u16(0).u16(0).u16(big ? 0xffff : n).u16(big ? 0xffff : n)
      .u32(big ? MAX32 : cdSize).u32(big ? MAX32 : cdStart).u16(0).bytes,
  );
  return new Blob(parts, { type: 'application/zip' });
}

interface DirEntry {
  name: string;
  /** 0 stored, 8 deflate */
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  /** offset of the entry's data */
  start: number;
}

/** The central directory of a zip held in memory (zip64 included). */
function zipDirectory(bytes: Uint8Array): DirEntry[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= 0; i--) {
    if (v.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new AlloyError('zip: no end of central directory record (not a zip file, or a truncated one)');
  let n = v.getUint16(eocd + 10, true);
  let at = v.getUint32(eocd + 16, true);
  if (eocd >= 20 && v.getUint32(eocd - 20, true) === 0x07064b50) {
    const z = Number(v.getBigUint64(eocd - 12, true));
    if (v.getUint32(z, true) !== 0x06064b50) throw new AlloyError('zip: bad zip64 end of central directory record');
    n = Number(v.getBigUint64(z + 32, true));
    at = Number(v.getBigUint64(z + 48, true));
  }
  const dec = new TextDecoder();
  const out: DirEntry[] = [];
  for (let k = 0; k < n; k++) {
    if (at + 46 > bytes.length || v.getUint32(at, true) !== 0x02014b50) throw new AlloyError('zip: bad central directory entry');
    const method = v.getUint16(at + 10, true);
    const crc = v.getUint32(at + 16, true);
    let compressedSize = v.getUint32(at + 20, true);
    let size = v.getUint32(at + 24, true);
    const nameLen = v.getUint16(at + 28, true);
    const extra = v.getUint16(at + 30, true);
    const comment = v.getUint16(at + 32, true);
    let local = v.getUint32(at + 42, true);
    const name = dec.decode(bytes.subarray(at + 46, at + 46 + nameLen));
    // zip64 extra field: the 8-byte values of the fields set to 0xFFFFFFFF, in the order uncompressed, compressed, offset
    for (let x = at + 46 + nameLen; x < at + 46 + nameLen + extra; x += 4 + v.getUint16(x + 2, true)) {
      if (v.getUint16(x, true) !== 0x0001) continue;
      let f = x + 4;
      if (size === MAX32) {
        size = Number(v.getBigUint64(f, true));
        f += 8;
      }
      if (compressedSize === MAX32) {
        compressedSize = Number(v.getBigUint64(f, true));
        f += 8;
      }
      if (local === MAX32) local = Number(v.getBigUint64(f, true));
    }
    if (local + 30 > bytes.length) throw new AlloyError(`zip: ${name} lies past the end of the file (truncated zip?)`);
    const start = local + 30 + v.getUint16(local + 26, true) + v.getUint16(local + 28, true);
    if (start + compressedSize > bytes.length) throw new AlloyError(`zip: ${name} is cut off (truncated zip?)`);
    out.push({ name, method, crc, compressedSize, size, start });
    at += 46 + nameLen + extra + comment;
  }
  return out;
}

/** Reads a store-only zip back (what zipStore and zipBlob write, zip64 included): for tests and for checking a download. */
export function unzipStore(bytes: Uint8Array): ZipEntry[] {
  return zipDirectory(bytes).map((e) => {
    if (e.method !== 0) throw new AlloyError(`zip: ${e.name} is compressed (method ${e.method}); only stored entries are read`);
    const data = bytes.slice(e.start, e.start + e.size);
    if (crc32(data) !== e.crc) throw new AlloyError(`zip: ${e.name} fails its CRC-32`);
    return { name: e.name, data };
  });
}

/**
 * Reads a zip with stored or deflated entries (what the Export panel writes, and what an operating system's
 * "compress" makes), inflating with the platform's DecompressionStream. Folders (names ending in "/") are left out;
 * every entry's CRC-32 is checked.
 */
export async function unzip(bytes: Uint8Array): Promise<ZipEntry[]> {
  const out: ZipEntry[] = [];
  for (const e of zipDirectory(bytes)) {
    if (e.name.endsWith('/')) continue;
    const raw = bytes.subarray(e.start, e.start + e.compressedSize);
    let data: Uint8Array;
    if (e.method === 0) data = raw.slice();
    else if (e.method === 8) {
      try {
        const stream = new Blob([raw.slice()]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
        data = new Uint8Array(await new Response(stream).arrayBuffer());
      } catch (err) {
        throw new AlloyError(`zip: ${e.name} does not inflate (${(err as Error).message})`, { file: e.name }, { cause: err });
      }
    } else throw new AlloyError(`zip: ${e.name} uses compression method ${e.method}; only stored and deflated entries are read`, { file: e.name });
    if (data.length !== e.size || crc32(data) !== e.crc) throw new AlloyError(`zip: ${e.name} fails its CRC-32 (damaged zip)`, { file: e.name });
    out.push({ name: e.name, data });
  }
  return out;
}
