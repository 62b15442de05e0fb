// Hand-built safetensors bytes for tests: any header text (valid or not) followed by any data.

/** 8-byte little-endian length + header text (padded with spaces to 8) + data. */
export function rawSafetensors(header: string | object, data: Uint8Array | number = 0, declaredLength?: number): Uint8Array {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const json = new TextEncoder().encode(text);
  const n = Math.ceil(json.byteLength / 8) * 8;
  const bytes = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + n + bytes.byteLength).fill(0x20, 8, 8 + n);
  new DataView(out.buffer).setBigUint64(0, BigInt(declaredLength ?? n), true);
  out.set(json, 8);
  out.set(bytes, 8 + n);
  return out;
}

/** The header bytes and file size parseHeader expects, for a file built by rawSafetensors. */
export function headerOf(file: Uint8Array): [Uint8Array, number] {
  const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  return [file.subarray(8, 8 + n), file.byteLength];
}
