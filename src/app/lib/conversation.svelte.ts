// The chat/generate transcript and its sampling settings. Each turn is one prompt and the model's reply; chat
// turns form the conversation sent through the chat template, generate turns stand alone (continue a text).
import type { SerializedError } from '../../common/errors.ts';
import type { ActiveAdapter, ChatTurn, FinishReason, GenerateRequest, SamplingSettings } from '../../worker/api.ts';
import { StudioError, toSerialized, type StudioClient } from './studio-client.svelte.ts';
import type { ResidentModel } from './resident-model.svelte.ts';
import type { KvDtype } from '../../engine/kv-dtype.ts';

export type ChatMode = 'chat' | 'generate';

export interface Turn {
  id: number;
  mode: ChatMode;
  prompt: string;
  reply: string;
  status: 'streaming' | 'done' | 'error';
  tokens: number;
  seconds: number;
  promptTokens: number | null;
  finishReason: FinishReason | null;
  /** the LoRA adapter the reply was generated with (null: the base model), so a transcript compares them */
  adapter: ActiveAdapter | null;
  /** how the run's KV cache stored keys and values */
  kvCache: KvDtype;
}

/** Sampling defaults in the range most small chat models are tuned for. */
export const DEFAULT_SETTINGS: SamplingSettings = { maxTokens: 64, temperature: 0.7, topK: 50, topP: 0.9, seed: 0, kvCache: 'f32' };

export function tokensPerSecond(t: Pick<Turn, 'tokens' | 'seconds'>): number {
  return t.seconds > 0 ? t.tokens / t.seconds : 0;
}

export class Conversation {
  turns = $state<Turn[]>([]);
  settings = $state<SamplingSettings>({ ...DEFAULT_SETTINGS });
  mode = $state<ChatMode>('chat');
  /** the generation in flight */
  running = $state<{ jobId: string; stopping: boolean } | null>(null);
  error = $state<SerializedError | null>(null);
  #nextId = 1;

  constructor(
    private readonly client: StudioClient,
    private readonly resident: ResidentModel,
  ) {}

  /** The finished chat turns as alternating messages, the new user message last. */
  #messages(prompt: string): ChatTurn[] {
    const out: ChatTurn[] = [];
    for (const t of this.turns) {
      if (t.mode !== 'chat' || t.status !== 'done') continue;
      out.push({ role: 'user', content: t.prompt }, { role: 'assistant', content: t.reply });
    }
    out.push({ role: 'user', content: prompt });
    return out;
  }

  async send(prompt: string): Promise<void> {
    if (this.running || !this.resident.model) return;
    this.error = null;
    const mode = this.mode;
    const s = { ...this.settings };
    const request: GenerateRequest =
      mode === 'chat' ? { ...s, mode: 'chat', messages: this.#messages(prompt) } : { ...s, mode: 'text', prompt };
    this.turns.push({
      id: this.#nextId++,
      mode,
      prompt,
      reply: '',
      status: 'streaming',
      tokens: 0,
      seconds: 0,
      promptTokens: null,
      finishReason: null,
      // what the worker will apply (adapter switches wait for generations); the summary confirms it
      adapter: this.resident.adapter ? { ...this.resident.adapter } : null,
      kvCache: s.kvCache ?? 'f32',
    });
    const turn = this.turns[this.turns.length - 1]!; // the reactive proxy, not the object pushed
    const job = this.client.generate(request, (u) => {
      turn.reply = turn.reply.slice(0, u.at) + u.delta;
      turn.tokens = Math.max(turn.tokens, u.tokens); // updates may arrive after the final summary
      turn.seconds = Math.max(turn.seconds, u.seconds);
    });
    this.running = { jobId: job.id, stopping: false };
    try {
      const r = await job.done;
      // The summary is authoritative: streamed updates travel on another port and may trail it.
      Object.assign(turn, { reply: r.text, tokens: r.tokens, seconds: r.seconds, promptTokens: r.promptTokens, finishReason: r.finishReason, adapter: r.adapter });
      turn.status = 'done';
      this.resident.setMemory(r.memory);
    } catch (e) {
      if (e instanceof StudioError && e.cancelled) {
        // The worker was restarted (or closed) mid-run: keep what streamed, as a stopped reply.
        turn.status = 'done';
        turn.finishReason = 'stopped';
      } else {
        turn.status = 'error';
        this.error = toSerialized(e);
      }
    } finally {
      this.running = null;
    }
  }

  stop(): void {
    const r = this.running;
    if (!r || r.stopping) return;
    r.stopping = true;
    this.client.cancelJob(r.jobId);
  }

  clear(): void {
    this.stop();
    this.turns = [];
    this.error = null;
  }
}
