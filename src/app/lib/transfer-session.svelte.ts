// The jobs that move models in and out of the studio (the Export panel's zip, folder, GGUF and adapter exports; the
// Models panel's GGUF / llama2.c import), held at app level so that switching tabs keeps a running export or import,
// its progress and its Cancel (the panels and cards that start them are mounted only while their tab is shown).
import { JobRunner } from './job-runner.svelte.ts';
import type { StudioClient } from './studio-client.svelte.ts';

export class TransferSession {
  readonly exporting: JobRunner;
  readonly importing: JobRunner;

  constructor(client: StudioClient) {
    this.exporting = new JobRunner((id) => client.cancelJob(id));
    this.importing = new JobRunner((id) => client.cancelJob(id));
  }
}
