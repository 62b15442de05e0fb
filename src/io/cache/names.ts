// How cached models are named, in one place. Three names, each with one job:
//   label — what people read: short ("stories260K-sft-step30"), distinct among the cache's entries;
//   lineage — where a model made here came from (base, stage, step, t), shown beside the label, never glued into it;
//   ref — how a mergekit YAML names the model: the Hub repo of a download, a slug of the label for anything made
//         here; only [A-Za-z0-9._/-] (plus `@` for a repeated repo), so it never reads as YAML syntax, mergekit's
//         `model+lora` or a URL, and it survives toMergeYaml → parseMergeYaml unchanged.
// Pure (no IndexedDB): unit-tested in tests/io/cache/names.test.ts.

/** Where a model made in the studio came from (every field optional: a GGUF import has none of them). */
export interface Lineage {
  /** the model it was made from (for a merge, the base parent), as its label read then */
  base?: string;
  /** what made it, e.g. "SFT LoRA", "slerp", "recipe: CPT → SFT" */
  stage?: string;
  /** the training step of the folded adapter */
  step?: number;
  /** a merge's other parent */
  other?: string;
  /** a SLERP's t as written, e.g. "attn [0, 1] · mlp [1, 0] · else 0.5" */
  t?: string;
}

interface Named {
  id: string;
  label: string;
  repo: string;
  revision?: string;
  source: string;
  createdAt?: number;
}

/** Characters a ref may hold: no spaces, `+`, `:`, brackets or quotes (YAML, mergekit's model+lora, URLs). */
const UNSAFE = /[^A-Za-z0-9._/-]+/g;

/** A name as a file- and YAML-safe slug: runs of anything else become "-", no leading/trailing "-" or ".". */
export function slugName(s: string, keepSlash = false): string {
  const out = s
    .replace(keepSlash ? UNSAFE : /[^A-Za-z0-9._-]+/g, '-')
    .replace(/-*\/[-/]*/g, '/')
    .replace(/-{2,}/g, '-');
  return out.replace(/^[-./]+|[-./]+$/g, '');
}

/** made by a merge, a fold or a recipe, or converted from a file: the label is its only name */
export const madeHere = (m: Pick<Named, 'source'>): boolean => m.source === 'merge' || m.source === 'import';

/** The short name a model goes by inside other names: a download's repo name ("stories260K"), else its label. */
export function shortName(m: Pick<Named, 'label' | 'repo' | 'source'>): string {
  return madeHere(m) ? m.label : m.repo.split('/').filter(Boolean).at(-1) || m.label;
}

/** `label`, or `label-2`, `label-3`, … : the first not among `taken` (so a repeated fold or recipe is told apart). */
export function distinctLabel(label: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  if (!used.has(label)) return label;
  let n = 2;
  while (used.has(`${label}-${n}`)) n++;
  return `${label}-${n}`;
}

/**
 * Every model's ref (id → ref). A download is its repo (what mergekit fetches); two revisions of one repo are
 * `repo@revision`; anything made here is the slug of its label. Refs left equal are numbered (-2, -3) oldest first,
 * so an entry keeps its ref when newer ones arrive.
 */
export function modelRefs(models: readonly Named[]): Map<string, string> {
  const oldestFirst = [...models].sort((x, y) => (x.createdAt ?? 0) - (y.createdAt ?? 0));
  const repoCount = new Map<string, number>();
  for (const m of oldestFirst) if (!madeHere(m)) repoCount.set(m.repo, (repoCount.get(m.repo) ?? 0) + 1);
  const refs = new Map<string, string>();
  const used = new Set<string>();
  for (const m of oldestFirst) {
    let ref: string;
    if (madeHere(m)) ref = slugName(m.label) || 'model';
    else {
      const repo = slugName(m.repo, true) || 'model';
      ref = (repoCount.get(m.repo) ?? 0) > 1 && m.revision ? `${repo}@${slugName(m.revision)}` : repo;
    }
    // "adapters/…" names the stored adapters of model+lora parents; a model never takes one
    if (ref.startsWith('adapters/')) ref = `models/${ref}`;
    ref = distinctLabel(ref, used);
    used.add(ref);
    refs.set(m.id, ref);
  }
  return refs;
}

/** A lineage as the short phrases the studio shows beside a name: "from stories260K", "SFT LoRA", "step 30", … */
export function lineageParts(l: Lineage | undefined): string[] {
  if (!l) return [];
  return [
    l.stage ?? '',
    l.base ? `${l.other ? 'base' : 'from'} ${l.base}` : '',
    l.other ? `with ${l.other}` : '',
    l.step !== undefined ? `step ${l.step}` : '',
    l.t !== undefined ? `t ${l.t}` : '',
  ].filter(Boolean);
}
