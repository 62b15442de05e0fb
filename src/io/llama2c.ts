// Import of karpathy's llama2.c legacy checkpoints (`run.c` format) into a Hugging Face Llama folder:
// config.json and model.safetensors (F32). llama2.c rotates interleaved pairs (2j, 2j+1); Hugging Face Llama rotates
// (j, j + head_dim/2), so wq/wk rows are permuted per head exactly as transformers' convert_llama_weights_to_hf does.
import type { ByteSink, ByteSource } from './bytes.ts';
import { AlloyError } from '../common/errors.ts';
import { writeSafetensors, type TensorToWrite } from './safetensors/writer.ts';
import { buildSentencePieceTokenizer, sentencePieceSpecialTokensMap, type SentencePieceVocab } from './sentencepiece.ts';

export interface Llama2cHeader {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  /** classifier shares the token embedding (vocab_size was positive in the header) */
  tied: boolean;
}

const HEADER_BYTES = 7 * 4;

export async function readLlama2cHeader(source: ByteSource): Promise<Llama2cHeader> {
  if (source.size < HEADER_BYTES) {
    throw new AlloyError(`${source.name}: ${source.size} bytes is too short for a llama2.c header (${HEADER_BYTES} bytes)`);
  }
  const b = await source.read(0, HEADER_BYTES);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabRaw, seqLen] = Array.from({ length: 7 }, (_, i) => v.getInt32(i * 4, true)) as [
    number, number, number, number, number, number, number,
  ];
  const h: Llama2cHeader = { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(vocabRaw), seqLen, tied: vocabRaw > 0 };
  const bad = (what: string) => new AlloyError(`${source.name}: not a llama2.c checkpoint (${what})`);
  for (const [k, x] of Object.entries({ dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: h.vocabSize, seqLen })) {
    if (!(x > 0)) throw bad(`header field ${k} = ${x}`);
  }
  if (dim % nHeads !== 0) throw bad(`dim ${dim} is not a multiple of n_heads ${nHeads}`);
  if ((dim / nHeads) % 2 !== 0) throw bad(`head_dim ${dim / nHeads} is odd`);
  if (nHeads % nKvHeads !== 0) throw bad(`n_heads ${nHeads} is not a multiple of n_kv_heads ${nKvHeads}`);
  return h;
}

interface Segment {
  /** Hugging Face name; null for llama2.c data that is skipped (RoPE tables) */
  name: string | null;
  shape: number[];
  offset: number;
  /** rows permuted from interleaved to rotate_half, with this many heads */
  permuteHeads?: number;
}

/** The file's layout after the header, in bytes; `end` is the exact file size the header implies. */
export function llama2cLayout(h: Llama2cHeader): { segments: Segment[]; end: number } {
  const { dim, hiddenDim: hid, nLayers: L, nHeads, nKvHeads, vocabSize: V, seqLen } = h;
  const headDim = dim / nHeads;
  const kvDim = headDim * nKvHeads;
  const segments: Segment[] = [];
  let offset = HEADER_BYTES;
  const add = (name: string | null, shape: number[], permuteHeads?: number) => {
    segments.push({ name, shape, offset, permuteHeads });
    offset += shape.reduce((a, b) => a * b, 1) * 4;
  };
  const perLayer = (suffix: string, shape: number[], permuteHeads?: number) => {
    for (let l = 0; l < L; l++) add(`model.layers.${l}.${suffix}`, shape, permuteHeads);
  };
  add('model.embed_tokens.weight', [V, dim]);
  perLayer('input_layernorm.weight', [dim]);
  perLayer('self_attn.q_proj.weight', [dim, dim], nHeads);
  perLayer('self_attn.k_proj.weight', [kvDim, dim], nKvHeads);
  perLayer('self_attn.v_proj.weight', [kvDim, dim]);
  perLayer('self_attn.o_proj.weight', [dim, dim]);
  perLayer('post_attention_layernorm.weight', [dim]);
  perLayer('mlp.gate_proj.weight', [hid, dim]);
  perLayer('mlp.down_proj.weight', [dim, hid]);
  perLayer('mlp.up_proj.weight', [hid, dim]);
  add('model.norm.weight', [dim]);
  add(null, [seqLen, headDim / 2]); // freq_cis_real
  add(null, [seqLen, headDim / 2]); // freq_cis_imag
  if (!h.tied) add('lm_head.weight', [V, dim]);
  return { segments, end: offset };
}

/**
 * Rows of a [nHeads*headDim, cols] matrix from llama2.c's interleaved RoPE order to rotate_half order:
 * w.view(nHeads, headDim/2, 2, cols).transpose(1, 2).reshape(nHeads*headDim, cols).
 */
export function permuteRotary(w: Float32Array, nHeads: number, cols: number): Float32Array {
  const rows = w.length / cols;
  const headDim = rows / nHeads;
  const half = headDim / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < half; j++) {
        const dst = (h * headDim + i * half + j) * cols;
        const src = (h * headDim + 2 * j + i) * cols;
        out.set(w.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

export function llama2cConfig(h: Llama2cHeader, ids: { bosId: number; eosId: number } = { bosId: 1, eosId: 2 }): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: h.dim,
    intermediate_size: h.hiddenDim,
    num_hidden_layers: h.nLayers,
    num_attention_heads: h.nHeads,
    num_key_value_heads: h.nKvHeads,
    vocab_size: h.vocabSize,
    max_position_embeddings: h.seqLen,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    hidden_act: 'silu',
    tie_word_embeddings: h.tied,
    attention_bias: false,
    mlp_bias: false,
    bos_token_id: ids.bosId,
    eos_token_id: ids.eosId,
    torch_dtype: 'float32',
  };
}

export type SinkFactory = (fileName: string) => Promise<ByteSink>;

export interface Llama2cImport {
  header: Llama2cHeader;
  config: Record<string, unknown>;
  tensors: string[];
  /** every file written, in order */
  files: string[];
}

export interface Llama2cImportOptions {
  /** the model's tokenizer (read by readSentencePieceVocab); `name` is its file, for error messages */
  tokenizer?: { vocab: SentencePieceVocab; name: string };
}

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v, null, 2) + '\n');

/**
 * Writes config.json and model.safetensors for a llama2.c legacy checkpoint, and with a tokenizer also
 * tokenizer.json, tokenizer_config.json and special_tokens_map.json. A file whose size differs from what its header
 * implies, or a tokenizer whose vocabulary is not the model's, is refused before anything is written. Sinks are
 * written in place; to publish a folder all at once, hand in sinks of a staging folder (src/io/node/staged-dir.ts).
 */
export async function importLlama2c(source: ByteSource, sinkFor: SinkFactory, options: Llama2cImportOptions = {}): Promise<Llama2cImport> {
  const header = await readLlama2cHeader(source);
  const { segments, end } = llama2cLayout(header);
  if (source.size !== end) {
    throw new AlloyError(
      `${source.name}: size does not match its llama2.c header (dim ${header.dim}, hidden ${header.hiddenDim}, ` +
        `${header.nLayers} layers, ${header.nHeads}/${header.nKvHeads} heads, vocab ${header.vocabSize}, seq ${header.seqLen}, ` +
        `${header.tied ? 'tied' : 'untied'}): expected ${end} bytes, actual ${source.size} bytes`,
      { file: source.name },
    );
  }
  const tok = options.tokenizer;
  if (tok && tok.vocab.pieces.length !== header.vocabSize) {
    throw new AlloyError(
      `${tok.name} has ${tok.vocab.pieces.length} tokens but ${source.name} was trained with a vocabulary of ` +
        `${header.vocabSize}; pass the tokenizer this model was trained with`,
      { file: tok.name },
    );
  }
  // Built before writing so a vocabulary the builder refuses also leaves nothing behind.
  const tokenizerFiles = tok ? buildSentencePieceTokenizer(tok.vocab) : null;

  const tensors: TensorToWrite[] = [];
  for (const s of segments) {
    if (s.name === null) continue;
    const n = s.shape.reduce((a, b) => a * b, 1);
    tensors.push({
      name: s.name,
      dtype: 'F32',
      shape: s.shape,
      data: async () => {
        const raw = await source.read(s.offset, n * 4);
        if (s.permuteHeads === undefined) return raw;
        const f = new Float32Array(raw.slice().buffer);
        const p = permuteRotary(f, s.permuteHeads, s.shape[1]!);
        return new Uint8Array(p.buffer);
      },
    });
  }
  const config = llama2cConfig(header, tok?.vocab);
  const files: string[] = [];
  const writeFile = async (name: string, bytes: Uint8Array) => {
    const sink = await sinkFor(name);
    await sink.write(bytes);
    await sink.close();
    files.push(name);
  };
  await writeFile('config.json', json(config));
  if (tok && tokenizerFiles) {
    await writeFile('generation_config.json', json({ _from_model_config: true, bos_token_id: tok.vocab.bosId, eos_token_id: tok.vocab.eosId }));
    await writeFile('tokenizer.json', json(tokenizerFiles.tokenizerJson));
    await writeFile('tokenizer_config.json', json({ ...tokenizerFiles.tokenizerConfig, model_max_length: header.seqLen }));
    await writeFile('special_tokens_map.json', json(sentencePieceSpecialTokensMap(tok.vocab)));
  }
  await writeSafetensors(await sinkFor('model.safetensors'), tensors, { source: 'llama2.c' });
  files.push('model.safetensors');
  return { header, config, tensors: tensors.map((t) => t.name), files };
}
