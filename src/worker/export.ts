// The Export panel's and the browser import's heavy work, in the worker: a cached model as a store-only zip (CRCs
// read chunk by chunk, the zip a Blob made of header bytes and the cache's own chunk Blobs), as GGUF through
// src/io/gguf/export.ts, or as its files' Blobs for writing into a folder; and a GGUF or llama2.c file converted
// into a new cache entry (store.ts: chunks under a partial record, manifest last, so complete or absent).
import type { ByteSink, ByteSource } from '../io/bytes.ts';
import { blobSource } from '../io/bytes.ts';
import { AlloyError, throwIfAborted } from '../common/errors.ts';
import { ProgressMeter, type ProgressFn } from '../io/progress.ts';
import type { CachedModelSummary, WeightCache } from '../io/cache/weight-cache.ts';
import { createEntryWriter } from '../io/cache/store.ts';
import type { ModelFiles } from '../io/model-files.ts';
import { exportGguf } from '../io/gguf/export.ts';
import { dequantizedNote, importGguf, storageSummary } from '../io/gguf/import.ts';
import { importLlama2c } from '../io/llama2c.ts';
import { readSentencePieceVocab } from '../io/tokenizer-sources.ts';
import { crc32Blob, zipBlob } from '../io/zip.ts';
import type { ExportFile, GgufExportResult, GgufOutType, ImportRequest, ImportResult, ModelBlobs } from './export-api.ts';

export interface ExportDeps {
  cache: () => Promise<WeightCache>;
  files: (id: string) => Promise<ModelFiles>;
}

/** A label as a file or folder name (at most 80 characters): "alloy-fixtures/tiny-llama@main" → "alloy-fixtures-tiny-llama-main". */
export function safeFileName(label: string): string {
  return label.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 80).replace(/^[-.]+|-+$/g, '') || 'model';
}

/** The name an exported file or folder gets: the repo (and revision) of a download, the label of anything made here. */
export function exportName(m: Pick<CachedModelSummary, 'source' | 'repo' | 'revision' | 'label'>): string {
  if (m.source === 'hub') return safeFileName(m.revision === 'main' ? m.repo : `${m.repo}-${m.revision}`);
  return safeFileName(m.label);
}

async function summaryOf(deps: ExportDeps, id: string): Promise<CachedModelSummary> {
  const summary = await (await deps.cache()).getSummary(id);
  if (!summary) throw new AlloyError(`No cached model with id ${id} (it may have been deleted in another tab)`);
  return summary;
}

export async function modelBlobs(deps: ExportDeps, id: string): Promise<ModelBlobs> {
  const cache = await deps.cache();
  const summary = await summaryOf(deps, id);
  const files: ModelBlobs['files'] = [];
  for (const f of summary.files) {
    const blob = await cache.fileBlob(id, f.path);
    if (!blob) throw new AlloyError(`${summary.label} was deleted while being exported`, { file: f.path });
    files.push({ path: f.path, blob });
  }
  return { label: summary.label, folderName: exportName(summary), files };
}

/** The model's folder as a store-only zip (files at the archive's root); progress over the bytes checksummed. */
export async function exportZip(deps: ExportDeps, id: string, signal: AbortSignal, onProgress?: ProgressFn): Promise<ExportFile> {
  const m = await modelBlobs(deps, id);
  const meter = new ProgressMeter(m.files.reduce((n, f) => n + f.blob.size, 0), onProgress, 'checksumming');
  const entries = [];
  for (const f of m.files) {
    entries.push({ name: f.path, data: f.blob, crc: await crc32Blob(f.blob, { signal, onBytes: (n) => meter.add(n, f.path) }) });
  }
  meter.finish();
  return { fileName: `${m.folderName}.zip`, blob: zipBlob(entries) };
}

/** Counts bytes read for a progress meter and stops reading once cancelled. */
function meteredSource(src: ByteSource, meter: ProgressMeter, signal: AbortSignal, what: string): ByteSource {
  return {
    name: src.name,
    size: src.size,
    async read(offset, length) {
      throwIfAborted(signal, what);
      const b = await src.read(offset, length);
      meter.add(length, src.name);
      return b;
    },
  };
}

/** Collects written bytes as Blobs (the browser may keep big ones on disk), so a GGUF file is never one buffer. */
class BlobPartsSink implements ByteSink {
  private parts: Blob[] = [];
  constructor(private readonly signal: AbortSignal) {}
  async write(chunk: Uint8Array): Promise<void> {
    throwIfAborted(this.signal, 'GGUF export');
    this.parts.push(new Blob([chunk as Uint8Array<ArrayBuffer>]));
  }
  async close(): Promise<void> {}
  blob(): Blob {
    return new Blob(this.parts, { type: 'application/octet-stream' });
  }
}

/** The model as one GGUF v3 file (src/io/gguf/export.ts); progress over the checkpoint bytes read. */
export async function exportGgufFile(deps: ExportDeps, id: string, type: GgufOutType, signal: AbortSignal, onProgress?: ProgressFn): Promise<GgufExportResult> {
  const name = exportName(await summaryOf(deps, id));
  const m = await deps.files(id);
  const weights = m.files.filter((f) => f.path.endsWith('.safetensors'));
  const meter = new ProgressMeter(weights.reduce((n, f) => n + f.size, 0), onProgress, `converting to GGUF ${type}`);
  const metered: ModelFiles = {
    label: m.label,
    files: m.files,
    async open(path) {
      const src = await m.open(path);
      return path.endsWith('.safetensors') ? meteredSource(src, meter, signal, 'GGUF export') : src;
    },
  };
  const sink = new BlobPartsSink(signal);
  const r = await exportGguf(metered, sink, { type, name: m.label });
  throwIfAborted(signal, 'GGUF export');
  meter.finish();
  const types: Record<string, number> = {};
  for (const t of r.tensors) types[t.type] = (types[t.type] ?? 0) + 1;
  return { fileName: `${name}-${type}.gguf`, blob: sink.blob(), architecture: r.architecture, types };
}

const stem = (name: string) => name.replace(/\.[^.]*$/, '');

/**
 * A GGUF or llama2.c file → a new cached model in the Hugging Face layout. Every refusal the importers make
 * (architecture, tensor type, truncated file, vocabulary size) happens before the entry is committed, and a
 * refusal or a cancel removes what was written: the entry is complete or absent.
 */
export async function importModel(deps: ExportDeps, req: ImportRequest, signal: AbortSignal, onProgress?: ProgressFn): Promise<ImportResult> {
  const file = req.kind === 'gguf' ? req.file : req.model;
  if (req.kind === 'llama2c' && !req.tokenizer) {
    throw new AlloyError(
      `${file.name}: a llama2.c checkpoint carries no vocabulary; add its tokenizer file (llama2.c tok*.bin or a SentencePiece .model), which chat, merge and benchmarks need`,
      { file: file.name },
    );
  }
  const meter = new ProgressMeter(file.size, onProgress, 'converting');
  const source = meteredSource(blobSource(file, file.name), meter, signal, 'import');
  const label = req.label?.trim() || stem(file.name);
  const writer = await createEntryWriter(await deps.cache(), { label, source: 'import', repo: label });
  const sinkFor = async (name: string): Promise<ByteSink> => {
    const sink = await writer.openSink(name);
    return {
      async write(b) {
        throwIfAborted(signal, 'import');
        await sink.write(b);
      },
      close: () => sink.close(),
    };
  };
  try {
    let summary: string;
    let warnings: string[] = [];
    if (req.kind === 'gguf') {
      const r = await importGguf(source, sinkFor);
      const c = r.config;
      summary =
        `GGUF ${String(c.model_type)}: hidden ${String(c.hidden_size)}, ${String(c.num_hidden_layers)} layers, ` +
        `${String(c.num_attention_heads)}/${String(c.num_key_value_heads)} heads, vocab ${String(c.vocab_size)}, ${storageSummary(r)}`;
      const note = dequantizedNote(r);
      if (note) summary += `; ${note}`;
      warnings = [...r.warnings];
      if (r.tokenizer === null) warnings.push(`${file.name} embeds no vocabulary, so the model has no tokenizer.json (chat and benchmarks need one)`);
    } else {
      const tok = req.tokenizer!;
      const vocab = await readSentencePieceVocab(blobSource(tok, tok.name));
      const r = await importLlama2c(source, sinkFor, { tokenizer: { vocab, name: tok.name } });
      const h = r.header;
      summary = `llama2.c: dim ${h.dim}, ${h.nLayers} layers, ${h.nHeads}/${h.nKvHeads} heads, vocab ${h.vocabSize}, ${h.tied ? 'tied' : 'untied'} head; tokenizer ${tok.name}`;
    }
    throwIfAborted(signal, 'import');
    const entry = await writer.commit();
    meter.finish();
    return { entry, summary, warnings };
  } catch (e) {
    await writer.abort();
    throw e;
  }
}
