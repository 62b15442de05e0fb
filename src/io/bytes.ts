/**
 * A random-access, read-only view of one file, wherever it lives (a File the user dropped, a cached model's
 * chunks in IndexedDB, a file on disk in Node). Readers never need the whole file in memory.
 */
export interface ByteSource {
  /** a name for error messages, e.g. "model-00001-of-00002.safetensors" */
  readonly name: string;
  readonly size: number;
  /** Reads bytes [offset, offset+length). Fails if the range runs past the end. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

export function bytesSource(bytes: Uint8Array, name: string): ByteSource {
  return {
    name,
    size: bytes.byteLength,
    async read(offset, length) {
      checkRange(name, bytes.byteLength, offset, length);
      return bytes.subarray(offset, offset + length);
    },
  };
}

export function blobSource(blob: Blob, name: string): ByteSource {
  return {
    name,
    size: blob.size,
    async read(offset, length) {
      checkRange(name, blob.size, offset, length);
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
  };
}

export function checkRange(name: string, size: number, offset: number, length: number): void {
  if (offset < 0 || length < 0 || offset + length > size) {
    throw new RangeError(`${name}: read of ${length} bytes at ${offset} runs past the end (${size} bytes)`);
  }
}

/** A sink for files being written (a safetensors shard, a config). The browser writes Blobs, Node writes files. */
export interface ByteSink {
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** Collects written bytes in memory; `blob()` gives the file once closed. */
export class BlobSink implements ByteSink {
  private parts: BlobPart[] = [];
  async write(chunk: Uint8Array): Promise<void> {
    this.parts.push(chunk.slice());
  }
  async close(): Promise<void> {}
  blob(type = 'application/octet-stream'): Blob {
    return new Blob(this.parts, { type });
  }
}
