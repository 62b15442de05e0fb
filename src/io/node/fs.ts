// Node-only file access for the CLI, scripts and tests. The browser build never imports this module.
import { open, mkdir } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { checkRange, type ByteSink, type ByteSource } from '../bytes.ts';

export function fileSource(path: string): ByteSource {
  const size = statSync(path).size;
  const name = basename(path);
  return {
    name,
    size,
    async read(offset, length) {
      checkRange(name, size, offset, length);
      const fh = await open(path, 'r');
      try {
        const buf = new Uint8Array(length);
        let got = 0;
        while (got < length) {
          const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
          if (bytesRead === 0) throw new RangeError(`${name}: file ended at ${offset + got}`);
          got += bytesRead;
        }
        return buf;
      } finally {
        await fh.close();
      }
    },
  };
}

export async function fileSink(path: string): Promise<ByteSink> {
  await mkdir(dirname(path), { recursive: true });
  const fh = await open(path, 'w');
  return {
    async write(chunk) {
      let off = 0;
      while (off < chunk.byteLength) {
        const { bytesWritten } = await fh.write(chunk, off, chunk.byteLength - off);
        off += bytesWritten;
      }
    },
    async close() {
      await fh.close();
    },
  };
}
