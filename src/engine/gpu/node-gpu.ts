/**
 * WebGPU in Node through Dawn (the `webgpu` package). Only the CLI, benches and tests import this module.
 * On a machine without a GPU, Dawn needs a Vulkan driver: SwiftShader's, which Debian's chromium ships.
 */
import { existsSync } from 'node:fs';
import { AlloyError } from '../../io/errors.ts';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

// Kept for the life of the process: if the GPU object is garbage-collected, Dawn tears down its instance
// under any live device and the process crashes or hangs (seen as a glibc futex abort).
let instance: GPU | undefined;

export async function nodeGpu(): Promise<GPU> {
  if (instance) return instance;
  // The Vulkan loader reads this when Dawn creates its instance, so it must be set before create().
  if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD) && !process.env.ALLOY_NO_SWIFTSHADER) {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
  const { create, globals } = await import('webgpu');
  // The engine uses GPUBufferUsage and friends as globals, as in a browser.
  Object.assign(globalThis, globals);
  instance = create([]) as GPU;
  return instance;
}

/** Explains how to get an adapter on this machine; used when requestAdapter() gives nothing. */
export function missingAdapterHelp(): string {
  return [
    'No WebGPU adapter in Node.',
    'On a machine without a GPU install the Vulkan loader and SwiftShader: apt-get install -y chromium libvulkan1',
    `(then VK_ICD_FILENAMES=${SWIFTSHADER_ICD} is used automatically).`,
    existsSync(SWIFTSHADER_ICD) ? '' : `${SWIFTSHADER_ICD} is missing.`,
  ]
    .filter(Boolean)
    .join(' ');
}

export async function acquireNodeDevice() {
  const { acquireDevice } = await import('./device.ts');
  const gpu = await nodeGpu();
  try {
    return await acquireDevice({ gpu });
  } catch (e) {
    throw new AlloyError(`${(e as Error).message} ${missingAdapterHelp()}`, {}, { cause: e });
  }
}
