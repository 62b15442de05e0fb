// The UI's view of the model resident on the worker's GPU: what is loaded, the load in progress, and the pool's
// memory figures. Lives at the app level (not in a panel) so switching tabs does not forget what the GPU holds.
import type { Progress } from '../../io/progress.ts';
import type { ActiveAdapter, AdapterChoice, GpuMemory, LoadedModel } from '../../worker/api.ts';
import { StudioError, type StudioClient } from './studio-client.svelte.ts';

export interface LoadingModel {
  id: string;
  label: string;
  jobId: string;
  progress: Progress | null;
  cancelling: boolean;
}

/** A value from one worker; the worker's restart (which frees its GPU) makes it stale. */
interface Stamped<T> {
  value: T;
  generation: number;
}

export class ResidentModel {
  loading = $state<LoadingModel | null>(null);
  #loaded = $state<Stamped<LoadedModel> | null>(null);
  #memory = $state<Stamped<GpuMemory | null> | null>(null);
  /** the adapter the worker applies to the loaded model (null: the base); a new load starts without one */
  #adapter = $state<Stamped<ActiveAdapter | null> | null>(null);
  /** an adapter switch in flight */
  switchingAdapter = $state(false);
  /** the adapter picked in the Chat panel, kept while the base model is shown for comparison */
  chosenAdapter = $state<AdapterChoice | null>(null);

  constructor(private readonly client: StudioClient) {}

  #fresh<T>(s: Stamped<T> | null): T | null {
    // After a device loss the worker has dropped the model and the pool; after a restart, everything.
    if (!s || s.generation !== this.client.generation || this.client.deviceLost) return null;
    return s.value;
  }

  /** The loaded model, or null (none loaded, device lost, or worker restarted). */
  get model(): LoadedModel | null {
    return this.#fresh(this.#loaded);
  }

  /** The adapter applied to the loaded model, or null (the base model). */
  get adapter(): ActiveAdapter | null {
    return this.model ? this.#fresh(this.#adapter) : null;
  }

  /** Applies a stored adapter to the loaded model without reloading it (null: back to the base model). */
  async setAdapter(choice: AdapterChoice | null): Promise<void> {
    const generation = this.client.generation;
    this.switchingAdapter = true;
    try {
      const r = await this.client.setChatAdapter(choice);
      if (generation === this.client.generation) {
        this.#adapter = { value: r.adapter, generation };
        this.setMemory(r.memory);
      }
    } finally {
      this.switchingAdapter = false;
    }
  }

  get memory(): GpuMemory | null {
    return this.#fresh(this.#memory);
  }

  setMemory(m: GpuMemory | null): void {
    this.#memory = { value: m, generation: this.client.generation };
  }

  async refreshMemory(): Promise<void> {
    const generation = this.client.generation;
    const m = await this.client.gpuMemory();
    if (generation === this.client.generation) this.setMemory(m);
  }

  /** Loads a cached model onto the GPU. Resolves false when cancelled; other failures throw. */
  async load(id: string, label: string): Promise<boolean> {
    if (this.loading) throw new StudioError({ name: 'Busy', message: `Already loading ${this.loading.label}`, where: {} });
    this.client.clearDeviceLost(); // loading re-acquires a device if the last one was lost
    const generation = this.client.generation;
    const job = this.client.loadForChat(id, (p) => {
      if (this.loading?.jobId === job.id) this.loading.progress = p;
    });
    this.loading = { id, label, jobId: job.id, progress: null, cancelling: false };
    this.#loaded = null; // the worker disposes the previous model before uploading the new one
    this.#adapter = null; // and its adapter with it
    this.chosenAdapter = null;
    try {
      const info = await job.done;
      if (generation === this.client.generation) {
        this.#loaded = { value: info, generation };
        this.setMemory(info.memory);
      }
      return true;
    } catch (e) {
      if (e instanceof StudioError && e.cancelled) return false;
      throw e;
    } finally {
      if (this.loading?.jobId === job.id) this.loading = null;
      void this.refreshMemory().catch(() => {});
    }
  }

  cancelLoad(): void {
    const l = this.loading;
    if (!l || l.cancelling) return;
    l.cancelling = true;
    this.client.cancelJob(l.jobId);
  }

  async unload(): Promise<void> {
    this.#loaded = null;
    this.#adapter = null;
    this.chosenAdapter = null;
    this.setMemory(await this.client.unloadModel());
  }

  /** After a device loss: load the model that was lost again, or just acquire a fresh device when none was. */
  async recover(): Promise<boolean> {
    const loss = this.client.deviceLost;
    if (loss?.modelId) return this.load(loss.modelId, loss.modelLabel ?? loss.modelId);
    this.client.clearDeviceLost();
    await this.refreshMemory();
    return true;
  }
}
