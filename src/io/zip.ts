/**
 * A store-only zip writer (no compression: safetensors barely compress, and it keeps this a page of code).
 * PKWARE APPNOTE 6.3: a local file header + data per file, then the central directory and its end record.
 * No zip64, so the whole archive must stay under 4 GiB (an adapter is megabytes); names are UTF-8 (flag bit 11).
 */
import { AlloyError } from './errors.ts';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, as zip and gzip use). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
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

/** Reads a store-only zip back (what zipStore writes): for tests and for checking a download. */
export function unzipStore(bytes: Uint8Array): ZipEntry[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= 0; i--) {
    if (v.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new AlloyError('zip: no end of central directory record');
  const n = v.getUint16(eocd + 10, true);
  let at = v.getUint32(eocd + 16, true);
  const dec = new TextDecoder();
  const out: ZipEntry[] = [];
  for (let k = 0; k < n; k++) {
    if (v.getUint32(at, true) !== 0x02014b50) throw new AlloyError('zip: bad central directory entry');
    const method = v.getUint16(at + 10, true);
    const crc = v.getUint32(at + 16, true);
    const size = v.getUint32(at + 20, true);
    const nameLen = v.getUint16(at + 28, true);
    const extra = v.getUint16(at + 30, true);
    const comment = v.getUint16(at + 32, true);
    const local = v.getUint32(at + 42, true);
    const name = dec.decode(bytes.subarray(at + 46, at + 46 + nameLen));
    if (method !== 0) throw new AlloyError(`zip: ${name} is compressed (method ${method}); only stored entries are read`);
    const start = local + 30 + v.getUint16(local + 26, true) + v.getUint16(local + 28, true);
    const data = bytes.slice(start, start + size);
    if (crc32(data) !== crc) throw new AlloyError(`zip: ${name} fails its CRC-32`);
    out.push({ name, data });
    at += 46 + nameLen + extra + comment;
  }
  return out;
}
