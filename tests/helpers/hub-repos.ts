// Small in-memory repos in the Hugging Face layout for source/cache tests (independent of the generated fixtures,
// so the tests can shape exactly the case they need: sharded, pickle-only, no config, multi-chunk files…).
import type { HubRepo } from './hub-server.ts';

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
export function prng(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** A valid safetensors file with one F32 tensor per name, each `elems` long. */
export function safetensors(names: string[], elems: number, seed = 1): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let off = 0;
  for (const n of names) {
    header[n] = { dtype: 'F32', shape: [elems], data_offsets: [off, off + elems * 4] };
    off += elems * 4;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += ' ';
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.byteLength + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.byteLength), true);
  out.set(h, 8);
  out.set(prng(off, seed), 8 + h.byteLength);
  return out;
}

const config = JSON.stringify({ architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 16 });
const tokenizerConfig = JSON.stringify({ chat_template: '{{ messages }}' });

/** config + tokenizer files + one model.safetensors of about `weightBytes`, plus files a loader must skip. */
export function singleRepo(weightBytes = 200_000, seed = 1): HubRepo {
  return {
    files: {
      'config.json': config,
      'tokenizer.json': JSON.stringify({ model: { type: 'BPE', vocab: {} } }),
      'tokenizer_config.json': tokenizerConfig,
      'generation_config.json': '{"do_sample":false}',
      'model.safetensors': safetensors(['a', 'b'], Math.ceil(weightBytes / 8), seed),
      'README.md': '# a model',
      'onnx/model.onnx': prng(1000),
      'pytorch_model.bin': prng(500),
    },
  };
}

export function shardedRepo(): HubRepo {
  const weight_map = { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' };
  return {
    files: {
      'config.json': config,
      'model.safetensors.index.json': JSON.stringify({ metadata: { total_size: 0 }, weight_map }),
      'model-00001-of-00002.safetensors': safetensors(['a'], 30_000, 2),
      'model-00002-of-00002.safetensors': safetensors(['b'], 20_000, 3),
    },
  };
}

export function pickleRepo(): HubRepo {
  return { files: { 'config.json': config, 'pytorch_model.bin': prng(4000, 7) } };
}

export function noConfigRepo(): HubRepo {
  return { files: { 'model.safetensors': safetensors(['a'], 100) } };
}
