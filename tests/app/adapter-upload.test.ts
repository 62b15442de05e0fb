// What the adapter import sends for a pick or drop (src/app/lib/adapter-upload.ts): every file with its path, and
// the stored adapter's name from the folder or .zip (loose files get a generic one).
import { describe, expect, it } from 'vitest';
import { adapterUpload, LOOSE_ADAPTER_NAME } from '../../src/app/lib/adapter-upload.ts';
import { DROPPED_FILES, PICKED_FILES } from '../../src/app/lib/folder.ts';

const file = (name: string) => new File([new Uint8Array(1)], name);

describe('adapterUpload', () => {
  it('names the adapter after its folder, its zip, or generically for loose files', () => {
    const cfg = file('adapter_config.json');
    const w = file('adapter_model.safetensors');
    expect(adapterUpload({ name: 'my-lora', files: [cfg, w], paths: ['adapter_config.json', 'adapter_model.safetensors'] })).toEqual({
      name: 'my-lora',
      files: [
        { path: 'adapter_config.json', blob: cfg },
        { path: 'adapter_model.safetensors', blob: w },
      ],
    });
    expect(adapterUpload({ name: PICKED_FILES, files: [cfg, w], paths: ['adapter_config.json', 'adapter_model.safetensors'] }).name).toBe(LOOSE_ADAPTER_NAME);
    expect(adapterUpload({ name: DROPPED_FILES, files: [file('sft-step5-lora.zip')], paths: ['sft-step5-lora.zip'] }).name).toBe('sft-step5-lora.zip');
  });
});
