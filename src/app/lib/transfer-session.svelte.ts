// The jobs that move models in and out of the studio (the Export panel's zip, folder, GGUF and adapter exports; the
// Models panel's GGUF / llama2.c import), held at app level so that switching tabs keeps a running export or import,
// its progress and its Cancel (the panels and cards that start them are mounted only while their tab is shown).
import { JobRunner } from './job-runner.svelte.ts';
import type { StudioClient } from './studio-client.svelte.ts';
import type { QuantizeResult, QuickPerplexity } from '../../worker/quantize-api.ts';

/** The last "load as 4-bit": the new entry beside its source, and both models' quick perplexity once scored. */
export interface QuantizedView {
  sourceId: string;
  sourceLabel: string;
  result: QuantizeResult;
  /** [source, quantised]; null while scoring or when scoring failed */
  perplexity: QuickPerplexity[] | null;
}

export class TransferSession {
  readonly exporting: JobRunner;
  readonly importing: JobRunner;
  /** the Models panel's "load as 4-bit" (quantise, then score both models) */
  readonly quantizing: JobRunner;
  quantized = $state<QuantizedView | null>(null);

  constructor(client: StudioClient) {
    this.exporting = new JobRunner((id) => client.cancelJob(id));
    this.importing = new JobRunner((id) => client.cancelJob(id));
    this.quantizing = new JobRunner((id) => client.cancelJob(id));
  }
}
