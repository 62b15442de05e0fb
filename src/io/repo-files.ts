// Which files of a Hugging Face-layout repository a model needs, and which repositories are refused.
// Shared by the hub listing and local folders so both apply the same rules.
import { AlloyError } from '../common/errors.ts';
import type { FileEntry } from './model-files.ts';

export const CONFIG = 'config.json';
export const INDEX = 'model.safetensors.index.json';
export const SINGLE = 'model.safetensors';

/** Small files a model may need besides its weights; fetched when present, never required (except config.json). */
export const AUX_FILES = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
  'chat_template.json',
] as const;

const PICKLE = /\.(bin|pt|pth|ckpt|pkl)$/i;

function isRoot(path: string): boolean {
  return !path.includes('/');
}

export function pickleRefusal(label: string, pickles: string[]): AlloyError {
  const names = pickles.slice(0, 3).join(', ') + (pickles.length > 3 ? ', …' : '');
  return new AlloyError(
    `${label} has only PyTorch pickle weights (${names}) and no safetensors. Pickle files can run arbitrary ` +
      `code when loaded, so Alloy only loads safetensors. Look for a safetensors revision of this model, or ` +
      `convert it with the "convert to safetensors" space on the hub.`,
    { file: pickles[0] },
  );
}

export function missingConfig(label: string): AlloyError {
  return new AlloyError(`${label} has no config.json: it is not a model in the Hugging Face layout.`, { file: CONFIG });
}

/** Shard names from a parsed model.safetensors.index.json, validated enough to name the problem. */
export function shardsFromIndex(label: string, index: unknown): string[] {
  const map = (index as { weight_map?: unknown } | null)?.weight_map;
  if (!map || typeof map !== 'object' || Array.isArray(map)) {
    throw new AlloyError(`${label}: ${INDEX} has no "weight_map" object`, { file: INDEX, field: 'weight_map' });
  }
  const shards = new Set<string>();
  for (const [tensor, shard] of Object.entries(map as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard === '' || shard.includes('..') || shard.startsWith('/')) {
      throw new AlloyError(`${label}: ${INDEX} maps tensor "${tensor}" to an invalid shard name`, {
        file: INDEX,
        tensor,
      });
    }
    shards.add(shard);
  }
  if (shards.size === 0) throw new AlloyError(`${label}: ${INDEX} lists no tensors`, { file: INDEX, field: 'weight_map' });
  return [...shards].sort();
}

/**
 * Picks what the model needs from everything the source lists: config + tokenizer files, then the weights
 * (index + its shards, or model.safetensors). README, images, onnx/, gguf, pickles and other variants are skipped.
 * `readIndex` is called only when the repo is sharded.
 */
export async function selectModelFiles(
  label: string,
  entries: readonly FileEntry[],
  readIndex: () => Promise<unknown>,
): Promise<FileEntry[]> {
  const byPath = new Map(entries.map((e) => [e.path, e]));
  if (!byPath.has(CONFIG)) {
    const pickles = entries.filter((e) => PICKLE.test(e.path)).map((e) => e.path);
    if (pickles.length > 0 && !entries.some((e) => e.path.endsWith('.safetensors'))) throw pickleRefusal(label, pickles);
    throw missingConfig(label);
  }
  const picked: FileEntry[] = AUX_FILES.flatMap((p) => (byPath.has(p) ? [byPath.get(p)!] : []));
  const index = byPath.get(INDEX);
  if (index) {
    picked.push(index);
    for (const shard of shardsFromIndex(label, await readIndex())) {
      const e = byPath.get(shard);
      if (!e) {
        throw new AlloyError(`${label}: shard ${shard} named by ${INDEX} is missing`, { file: shard });
      }
      picked.push(e);
    }
    return picked;
  }
  const single = byPath.get(SINGLE);
  if (single) {
    picked.push(single);
    return picked;
  }
  const pickles = entries.filter((e) => isRoot(e.path) && PICKLE.test(e.path)).map((e) => e.path);
  if (pickles.length > 0) throw pickleRefusal(label, pickles);
  const others = entries.filter((e) => isRoot(e.path) && e.path.endsWith('.safetensors')).map((e) => e.path);
  throw new AlloyError(
    `${label} has no ${SINGLE} or ${INDEX}` +
      (others.length > 0 ? ` (found ${others.join(', ')}, which is not the standard layout)` : ''),
    { file: SINGLE },
  );
}

/**
 * The synchronous variant for reading a folder in place: without reading the index it keeps the index and every
 * root-level *.safetensors (the safetensors reader then checks that the shards the index names are there).
 */
export function selectModelFilesSync(label: string, entries: readonly FileEntry[]): FileEntry[] {
  const byPath = new Map(entries.map((e) => [e.path, e]));
  const weights = entries.filter((e) => isRoot(e.path) && e.path.endsWith('.safetensors'));
  const pickles = entries.filter((e) => isRoot(e.path) && PICKLE.test(e.path)).map((e) => e.path);
  if (weights.length === 0 && pickles.length > 0) throw pickleRefusal(label, pickles);
  if (!byPath.has(CONFIG)) throw missingConfig(label);
  if (weights.length === 0) throw new AlloyError(`${label} has no ${SINGLE} or ${INDEX}`, { file: SINGLE });
  const picked: FileEntry[] = AUX_FILES.flatMap((p) => (byPath.has(p) ? [byPath.get(p)!] : []));
  const index = byPath.get(INDEX);
  if (index) picked.push(index);
  return [...picked, ...weights.sort((a, b) => a.path.localeCompare(b.path))];
}
