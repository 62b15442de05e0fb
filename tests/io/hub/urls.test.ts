import { describe, expect, it } from 'vitest';
import { DEFAULT_HUB, apiRevisionUrl, authHeaders, isValidRepoId, resolveUrl } from '../../../src/io/hub/urls.ts';
import { entryId, folderPaths, hubEntryId } from '../../../src/io/sources.ts';

describe('hub URLs', () => {
  it('builds resolve and API URLs in the hub layout, encoding path segments', () => {
    expect(resolveUrl(DEFAULT_HUB, 'HuggingFaceTB/SmolLM2-135M', 'main', 'model.safetensors')).toBe(
      'https://huggingface.co/HuggingFaceTB/SmolLM2-135M/resolve/main/model.safetensors',
    );
    expect(resolveUrl('http://127.0.0.1:9/hub/', 'o/n', 'refs/pr/1', 'sub dir/a#b.json')).toBe(
      'http://127.0.0.1:9/hub/o/n/resolve/refs%2Fpr%2F1/sub%20dir/a%23b.json',
    );
    expect(apiRevisionUrl('http://h/', 'o/n', 'main')).toBe('http://h/api/models/o/n/revision/main');
  });

  it('sends the token only to the hub origin', () => {
    expect(authHeaders('https://huggingface.co', 'https://huggingface.co/x/resolve/main/a', 't')).toEqual({
      Authorization: 'Bearer t',
    });
    expect(authHeaders('https://huggingface.co', 'https://cdn-lfs.hf.co/x', 't')).toEqual({});
    expect(authHeaders('https://huggingface.co', 'https://huggingface.co/x', undefined)).toEqual({});
  });

  it('validates repo ids', () => {
    expect(isValidRepoId('HuggingFaceTB/SmolLM2-135M')).toBe(true);
    expect(isValidRepoId('gpt2')).toBe(true);
    for (const bad of ['', 'a/b/c', '../x', 'https://huggingface.co/a/b', 'a b/c']) expect(isValidRepoId(bad)).toBe(false);
  });
});

describe('entry ids', () => {
  it('names hub entries by host, repo and revision', () => {
    expect(hubEntryId({ kind: 'hub', repo: 'o/n' })).toBe('hf|o/n@main');
    expect(hubEntryId({ kind: 'hub', repo: 'o/n', baseUrl: 'https://huggingface.co/' })).toBe('hf|o/n@main');
    expect(hubEntryId({ kind: 'hub', repo: 'o/n', revision: 'v2', baseUrl: 'http://127.0.0.1:5/hub/' })).toBe(
      'http://127.0.0.1:5/hub|o/n@v2',
    );
  });

  it('fingerprints folders by names, sizes and modification times', () => {
    const a = new File(['{}'], 'config.json', { lastModified: 1 });
    const b = new File(['xx'], 'model.safetensors', { lastModified: 1 });
    const id1 = entryId({ kind: 'folder', name: 'm', files: [a, b] });
    const id2 = entryId({ kind: 'folder', name: 'm', files: [b, a] });
    const id3 = entryId({ kind: 'folder', name: 'm', files: [a, new File(['xy'], 'model.safetensors', { lastModified: 2 })] });
    expect(id1).toMatch(/^folder\|m\|[0-9a-f]{16}$/);
    expect(id2).toBe(id1);
    expect(id3).not.toBe(id1);
  });

  it('strips the common top folder of picked files', () => {
    const f = (rel: string) => {
      const file = new File(['x'], rel.split('/').pop()!);
      Object.defineProperty(file, 'webkitRelativePath', { value: rel });
      return file;
    };
    expect(folderPaths([f('m/config.json'), f('m/onnx/a.onnx')])).toEqual(['config.json', 'onnx/a.onnx']);
    expect(folderPaths([f('m/config.json'), f('n/x.json')])).toEqual(['m/config.json', 'n/x.json']);
    expect(folderPaths([new File(['x'], 'config.json')])).toEqual(['config.json']);
    // webkitRelativePath is lost in postMessage; explicit paths win
    expect(folderPaths([new File(['x'], 'config.json'), new File(['x'], 'a.onnx')], ['m/config.json', 'm/onnx/a.onnx'])).toEqual([
      'config.json',
      'onnx/a.onnx',
    ]);
  });
});
