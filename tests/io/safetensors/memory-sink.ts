import type { ByteSink, ByteSource } from '../../../src/io/bytes.ts';

/** Collects what a writer streams, recording each write so tests can see the order and that it closed. */
export class MemorySink implements ByteSink {
  readonly chunks: Uint8Array[] = [];
  closed = false;
  async write(chunk: Uint8Array): Promise<void> {
    if (this.closed) throw new Error('write after close');
    this.chunks.push(chunk.slice());
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.byteLength, 0));
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.byteLength;
    }
    return out;
  }
}

/** Wraps a source and logs every read, to prove what the reader does (not) fetch. */
export function loggingSource(src: ByteSource): ByteSource & { reads: [number, number][] } {
  const reads: [number, number][] = [];
  return {
    name: src.name,
    size: src.size,
    reads,
    read(offset, length) {
      reads.push([offset, length]);
      return src.read(offset, length);
    },
  };
}
