/**
 * Device acquisition. We ask for the adapter's own limits instead of WebGPU's defaults (128 MiB per storage
 * binding, 256 MiB per buffer), because the defaults cannot hold a real model's embedding or lm_head.
 */
import { AlloyError } from '../../common/errors.ts';

export interface AdapterFacts {
  vendor: string;
  architecture: string;
  description: string;
}

export interface GpuContext {
  device: GPUDevice;
  adapterInfo: AdapterFacts;
  limits: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxStorageBuffersPerShaderStage: number;
  };
  features: string[];
  hasShaderF16: boolean;
  /** Resolves when the device is lost; the UI offers to reload the model (the weight cache is untouched). */
  lost: Promise<GPUDeviceLostInfo>;
}

/** Limits we raise to the adapter's maximum; everything else keeps its default. */
const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxStorageBuffersPerShaderStage',
] as const;

/** Features we use when present; none is required. */
const WANTED_FEATURES: GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];

export async function acquireDevice(opts: { gpu?: GPU; powerPreference?: GPUPowerPreference } = {}): Promise<GpuContext> {
  const gpu = opts.gpu ?? (typeof navigator !== 'undefined' ? navigator.gpu : undefined);
  if (!gpu) {
    throw new AlloyError(
      'WebGPU unavailable: this browser exposes no navigator.gpu. Use a recent Chrome or Edge (or Chromium with --enable-unsafe-webgpu) on a secure (https or localhost) page.',
    );
  }
  const adapter = await gpu.requestAdapter(opts.powerPreference ? { powerPreference: opts.powerPreference } : undefined);
  if (!adapter) {
    throw new AlloyError('WebGPU unavailable: no GPU adapter was found (the GPU may be blocklisted or drivers missing).');
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number | undefined>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const info = adapter.info;
  const limits = device.limits;
  return {
    device,
    adapterInfo: {
      vendor: info?.vendor ?? '',
      architecture: info?.architecture ?? '',
      description: info?.description || [info?.vendor, info?.architecture].filter(Boolean).join(' ') || 'unknown adapter',
    },
    limits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
      maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
    },
    features: [...device.features].map(String).sort(),
    hasShaderF16: device.features.has('shader-f16'),
    lost: device.lost,
  };
}
