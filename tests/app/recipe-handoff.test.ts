// The Recipe panel's hand-off helpers (app/lib/recipe-handoff.ts) without a browser: the cluster folder zipped under
// one top folder holds the golden export byte for byte; a loaded recipe file is Alloy's YAML or a TRL stage config
// (with its warnings) or a mergekit YAML for its merge; the site reader names the path and status of a missing file.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportCluster } from '../../src/engine/recipe/cluster-export.ts';
import { demoRecipe } from '../../src/engine/recipe/presets.ts';
import { recipeToYaml } from '../../src/engine/recipe/spec.ts';
import { handoffZip, loadRecipeText, siteReader } from '../../src/app/lib/recipe-handoff.ts';
import { unzipStore } from '../../src/io/zip.ts';

const GOLDEN = resolve('tests/engine/recipe/golden/cluster-demo');

function goldenFiles(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(GOLDEN, p).split('\\').join('/'), readFileSync(p, 'utf8'));
    }
  };
  walk(GOLDEN);
  return out;
}

describe('recipe hand-off in the studio', () => {
  it('zips the export under one folder, every file equal to the golden export', async () => {
    const recipe = demoRecipe();
    const files = await exportCluster({ recipe, baseModel: 'HuggingFaceTB/SmolLM2-135M-Instruct', readText: async (p) => readFileSync(resolve('public', p), 'utf8') });
    const z = handoffZip({ name: 'demo-instruct-cpt-sft-orpo-slerp-cluster', files });
    expect(z.fileName).toBe('demo-instruct-cpt-sft-orpo-slerp-cluster.zip');
    const entries = unzipStore(new Uint8Array(await z.blob.arrayBuffer()));
    const dec = new TextDecoder();
    const got = new Map(entries.map((e) => [e.name.replace(/^demo-instruct-cpt-sft-orpo-slerp-cluster\//, ''), dec.decode(e.data)]));
    expect(entries.every((e) => e.name.startsWith('demo-instruct-cpt-sft-orpo-slerp-cluster/'))).toBe(true);
    expect(got).toEqual(goldenFiles());
  });

  it('loads Alloy recipe YAML as it is and a TRL stage config with its warnings', () => {
    const alloy = loadRecipeText(recipeToYaml(demoRecipe()), 'demo.yaml', demoRecipe());
    expect(alloy).toMatchObject({ kind: 'alloy', warnings: [], baseModel: null });
    expect(alloy.recipe).toEqual(demoRecipe());
    const trl = loadRecipeText('model_name_or_path: org/m\nuse_peft: true\ndataset_name: demo/data/preference.jsonl\nbeta: 0.2\nlora_dropout: 0.1\n', 'config_orpo.yaml', demoRecipe());
    expect(trl.kind).toBe('trl');
    expect(trl.baseModel).toBe('org/m');
    expect(trl.recipe.stages[0]).toMatchObject({ method: 'orpo', beta: 0.2, data: 'demo/data/preference.jsonl', lr: 1e-6 });
    expect(trl.warnings.join('\n')).toMatch(/config_orpo\.yaml: lora_dropout 0\.1 not carried over/);
    expect(() => loadRecipeText('learning_rate: 1\n', 'config.yaml', demoRecipe())).toThrow(/cannot tell which trainer/);
  });

  it("loads a mergekit SLERP YAML as the merge of the recipe shown, saying its models do not carry over", () => {
    const yaml = 'models:\n  - model: a\n  - model: b\nmerge_method: slerp\nbase_model: b\nparameters:\n  t:\n    - filter: mlp\n      value: [0, 1]\n    - value: 0.25\nfoo: 1\n';
    const r = loadRecipeText(yaml, 'merge.yml', demoRecipe());
    expect(r.kind).toBe('mergekit');
    // its t replaces the recipe's; the recipe's own t-sweep stays (a mergekit YAML is one merge)
    expect(r.recipe).toEqual({ ...demoRecipe(), merge: { method: 'slerp', t: { mlp: [0, 1], default: 0.25 }, sweep: [0.25, 0.5, 0.75] } });
    expect(r.warnings.join('\n')).toMatch(/merge\.yml: unknown key "foo" ignored/);
    expect(r.warnings.join('\n')).toMatch(/merge\.yml: the merge's models are not carried over/);
    expect(() => loadRecipeText(yaml.replace('slerp', 'linear'), 'merge.yml', demoRecipe())).toThrow(/merge\.yml: merge_method linear: the recipe's merge is slerp/);
  });

  it('names the path and the status of data the site does not have', async () => {
    const server = await import('node:http').then(({ createServer }) => createServer((_q, r) => void r.writeHead(404, 'Not Found').end()));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const port = (server.address() as { port: number }).port;
    try {
      await expect(siteReader(`http://127.0.0.1:${port}/app/`)('demo/data/x.jsonl')).rejects.toThrow(/recipe data demo\/data\/x\.jsonl: 404 Not Found from http:\/\/127\.0\.0\.1:\d+\/app\/demo\/data\/x\.jsonl/);
    } finally {
      server.close();
    }
  });
});
