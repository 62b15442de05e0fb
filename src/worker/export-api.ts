// What crosses the comlink boundary for the Export panel and the browser import (plain data, Blobs and Files:
// both are structured-cloneable handles, so a model's bytes are never copied to cross it).
import type { CachedModelSummary } from '../io/cache/weight-cache.ts';
import type { GgufOutType } from '../io/gguf/export.ts';

export type { GgufOutType };

/** A file made in the worker, for the UI to save (download link or File System Access). */
export interface ExportFile {
  fileName: string;
  blob: Blob;
}

export interface GgufExportResult extends ExportFile {
  architecture: string;
  /** ggml type → number of tensors written in it */
  types: Record<string, number>;
}

/** A cached model's files as Blobs made of its chunk Blobs (nothing read): written one by one into a folder. */
export interface ModelBlobs {
  label: string;
  /** a file-system-safe name for the folder (or zip) */
  folderName: string;
  files: { path: string; blob: Blob }[];
}

/**
 * A file to convert into a cached model in the Hugging Face layout: a GGUF file (vocabulary inside), or a
 * llama2.c checkpoint with its tokenizer (llama2.c tok*.bin or a SentencePiece .model).
 */
export type ImportRequest =
  | { kind: 'gguf'; file: File; label?: string }
  | { kind: 'llama2c'; model: File; tokenizer: File | null; label?: string };

export interface ImportResult {
  entry: CachedModelSummary;
  /** one line saying what was read, e.g. "GGUF llama: hidden 64, 2 layers, vocab 256, F32" */
  summary: string;
  warnings: string[];
}
