// The Data panel's state that must outlive the panel (mounted only while its tab is shown): the file and choices on
// screen, and the token count running in the worker with its progress and Cancel. A tab switch neither loses the
// file nor cancels the count; a new file, model or method does (the count is then of something no longer shown).
import type { SerializedError } from '../../common/errors.ts';
import type { Method } from '../../common/training-data.ts';
import type { Progress } from '../../io/progress.ts';
import type { DatasetTokens, DatasetTokensRequest } from '../../worker/dataset.ts';
import { toSerialized, type StudioClient } from './studio-client.svelte.ts';

export interface DataChoice {
  source: { name: string; text: string } | null;
  modelId: string;
  method: Method;
  seqLen: number;
  fraction: number;
  seed: number;
}

export class DataSession {
  choice = $state.raw<DataChoice>({ source: null, modelId: '', method: 'sft', seqLen: 128, fraction: 0.1, seed: 0 });
  tokens = $state.raw<DatasetTokens | null>(null);
  tokenError = $state<SerializedError | null>(null);
  counting = $state<{ jobId: string; progress: Progress | null; cancelling: boolean } | null>(null);
  /** what `tokens` (or the running count) is of */
  #key: string | null = null;

  constructor(private readonly client: StudioClient) {}

  /**
   * Counts the request's tokens unless that count is already shown or running (the panel asks again each time it
   * mounts); a count of something else is cancelled first. Null: nothing to count.
   */
  count(request: DatasetTokensRequest | null): void {
    const key = request ? `${request.modelId}\u0000${request.method}\u0000${request.name}\u0000${request.text.length}\u0000${request.text}` : null;
    if (key === this.#key) return;
    this.#key = key;
    if (this.counting) this.client.cancelJob(this.counting.jobId);
    this.counting = null;
    this.tokens = null;
    this.tokenError = null;
    if (!request) return;
    const job = this.client.datasetTokens(request, (p) => {
      if (this.counting?.jobId === job.id) this.counting.progress = p;
    });
    this.counting = { jobId: job.id, progress: null, cancelling: false };
    job.done.then(
      (t) => {
        if (this.counting?.jobId !== job.id) return;
        this.tokens = t;
        this.counting = null;
      },
      (e: unknown) => {
        if (this.counting?.jobId !== job.id) return;
        const err = toSerialized(e);
        if (err.name !== 'CancelledError') this.tokenError = err;
        this.counting = null;
        // a cancelled count is not a result: asking again counts again
        this.#key = null;
      },
    );
  }

  cancel(): void {
    if (!this.counting || this.counting.cancelling) return;
    this.counting.cancelling = true;
    this.client.cancelJob(this.counting.jobId);
  }
}
