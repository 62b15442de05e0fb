// The Data panel's token counts, in the worker so a big file does not freeze the page: the file read tolerantly
// (io/datasets/inspect.ts, the same good rows the page previews), each good row tokenised with the chosen cached
// model's tokenizer exactly as training will (io/datasets/stats.ts), in slices so progress streams and a cancel lands.
import { readJson, type ModelFiles } from '../io/model-files.ts';
import { parseModelConfig } from '../io/config.ts';
import { inspectDataset } from '../io/datasets/inspect.ts';
import { rowTokenCounts, type RowTokens } from '../io/datasets/stats.ts';
import type { RowTokenizer } from '../io/datasets/rows.ts';
import type { FileFormat } from '../io/datasets/shapes.ts';
import { AlloyError, throwIfAborted } from '../common/errors.ts';
import { ProgressMeter, type ProgressFn } from '../io/progress.ts';
import type { Method } from '../common/training-data.ts';

export interface DatasetTokensRequest {
  modelId: string;
  name: string;
  text: string;
  format?: FileFormat;
  /** how the rows are tokenised (a method the file's shape trains) */
  method: Method;
}

export interface DatasetTokens {
  method: Method;
  vocabSize: number;
  /** one entry per good row that tokenised, in file order */
  rows: RowTokens[];
  /** rows that read but could not be tokenised (e.g. chat rows for a model without a chat template) */
  issues: { line: number | null; reason: string; field?: string }[];
  issueCount: number;
}

export interface DatasetDeps {
  files(id: string): Promise<ModelFiles>;
  tokenizer(id: string): Promise<RowTokenizer>;
}

const SLICE = 64;

export async function countDatasetTokens(deps: DatasetDeps, req: DatasetTokensRequest, signal?: AbortSignal, onProgress?: ProgressFn): Promise<DatasetTokens> {
  const insp = inspectDataset(req.text, req.name, req.format ? { format: req.format } : {});
  if (!insp.shape) throw new AlloyError(`${req.name}: no row has a known shape, so there is nothing to tokenise`, { file: req.name });
  if (!insp.shape.methods.includes(req.method)) {
    throw new AlloyError(`${req.name}: ${insp.shape.label} rows train ${insp.shape.methods.join(' or ')}, not ${req.method}`, { file: req.name, field: 'method' });
  }
  const cfg = parseModelConfig(await readJson(await deps.files(req.modelId), 'config.json'), 'config.json');
  const tok = await deps.tokenizer(req.modelId);
  const meter = new ProgressMeter(insp.rows.length, onProgress, 'Tokenising', 'items');
  const out: DatasetTokens = { method: req.method, vocabSize: cfg.vocabSize, rows: [], issues: [], issueCount: 0 };
  for (let i = 0; i < insp.rows.length; i += SLICE) {
    throwIfAborted(signal, 'tokenising');
    const slice = insp.rows.slice(i, i + SLICE).map((r) => ({ line: r.line, value: r.value }));
    const r = rowTokenCounts(req.method, slice, tok, cfg.vocabSize, req.name, Math.max(0, 100 - out.issues.length));
    out.rows.push(...r.rows);
    out.issues.push(...r.issues);
    out.issueCount += r.issueCount;
    meter.add(slice.length);
    // let the cancel message in between slices
    await new Promise((ok) => setTimeout(ok, 0));
  }
  meter.finish();
  return out;
}
