import { bytesSource, type ByteSource } from './bytes.ts';
import { AlloyError } from '../common/errors.ts';

/** One file of a model repository, as a source lists it. */
export interface FileEntry {
  /** path inside the repository, e.g. "model-00001-of-00002.safetensors" */
  path: string;
  size: number;
  /** lowercase hex sha256 when the source knows it (the hub does for LFS files) */
  sha256?: string;
}

/**
 * A model repository in the Hugging Face layout, wherever it lives: a folder the user dropped, an entry of
 * the IndexedDB cache, a directory on disk (Node). Everything above I/O reads models through this.
 */
export interface ModelFiles {
  /** shown to the user, e.g. "HuggingFaceTB/SmolLM2-135M@main" or "folder my-model" */
  readonly label: string;
  readonly files: readonly FileEntry[];
  open(path: string): Promise<ByteSource>;
}

export function hasFile(m: ModelFiles, path: string): boolean {
  return m.files.some((f) => f.path === path);
}

export async function readBytes(m: ModelFiles, path: string): Promise<Uint8Array> {
  if (!hasFile(m, path)) throw new AlloyError(`${m.label}: missing ${path}`, { file: path });
  const src = await m.open(path);
  return src.read(0, src.size);
}

export async function readText(m: ModelFiles, path: string): Promise<string> {
  return new TextDecoder().decode(await readBytes(m, path));
}

export async function readJson(m: ModelFiles, path: string): Promise<unknown> {
  const text = await readText(m, path);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new AlloyError(`${m.label}: ${path} is not valid JSON (${(e as Error).message})`, { file: path });
  }
}

/** A repository held in memory (tests, freshly written merges, files assembled from cache chunks). */
export function memoryModelFiles(record: Record<string, Uint8Array>, label = 'memory'): ModelFiles {
  const files = Object.entries(record).map(([path, bytes]) => ({ path, size: bytes.byteLength }));
  return {
    label,
    files,
    async open(path) {
      const bytes = record[path];
      if (!Object.hasOwn(record, path) || bytes === undefined) {
        throw new AlloyError(`${label}: missing ${path}`, { file: path });
      }
      return bytesSource(bytes, path);
    },
  };
}
