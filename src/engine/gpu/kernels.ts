/**
 * The kernel registry: WGSL lives in shaders/*.wgsl (one file per kernel family), is bundled as text, and is
 * compiled once per (file, entry point, override constants) with createComputePipelineAsync so compilation
 * does not block the worker and can overlap with weight downloads.
 */
import { AlloyError } from '../../io/errors.ts';

const sources = import.meta.glob('../../../shaders/*.wgsl', { query: '?raw', import: 'default', eager: true }) as Record<
  string,
  string
>;

export const SHADER_SOURCES: Record<string, string> = Object.fromEntries(
  Object.entries(sources).map(([path, src]) => [path.replace(/^.*\//, '').replace(/\.wgsl$/, ''), src]),
);

export type Overrides = Record<string, number | boolean>;

export class KernelRegistry {
  private modules = new Map<string, GPUShaderModule>();
  private pipelines = new Map<string, Promise<GPUComputePipeline>>();
  private layouts = new WeakMap<GPUComputePipeline, GPUBindGroupLayout>();

  constructor(readonly device: GPUDevice) {}

  pipeline(file: string, entryPoint = 'main', constants: Overrides = {}): Promise<GPUComputePipeline> {
    const key = `${file}:${entryPoint}:${JSON.stringify(Object.entries(constants).sort())}`;
    let p = this.pipelines.get(key);
    if (!p) {
      let module: GPUShaderModule;
      try {
        module = this.module(file);
      } catch (e) {
        return Promise.reject(e);
      }
      const desc: GPUComputePipelineDescriptor = {
        label: `${file}.${entryPoint}`,
        layout: 'auto',
        compute: {
          module,
          entryPoint,
          constants: Object.fromEntries(Object.entries(constants).map(([k, v]) => [k, Number(v)])),
        },
      };
      p = this.device
        .createComputePipelineAsync(desc)
        .catch(async (e: unknown) => {
          this.pipelines.delete(key);
          const info = await this.module(file).getCompilationInfo();
          const msgs = info.messages.map((m) => `${file}.wgsl:${m.lineNum}:${m.linePos} ${m.type}: ${m.message}`);
          throw new AlloyError(`shader ${file}.wgsl (${entryPoint}) failed to compile: ${msgs.join('; ') || String(e)}`, {
            file: `${file}.wgsl`,
          });
        });
      this.pipelines.set(key, p);
    }
    return p;
  }

  /** The pipeline's bind group layout, fetched once per pipeline rather than once per dispatch. */
  layout(pipeline: GPUComputePipeline, group = 0): GPUBindGroupLayout {
    if (group !== 0) return pipeline.getBindGroupLayout(group);
    let l = this.layouts.get(pipeline);
    if (!l) {
      l = pipeline.getBindGroupLayout(0);
      this.layouts.set(pipeline, l);
    }
    return l;
  }

  private module(file: string): GPUShaderModule {
    let m = this.modules.get(file);
    if (!m) {
      const code = SHADER_SOURCES[file];
      if (code === undefined) throw new AlloyError(`no shader named ${file}.wgsl in shaders/`, { file: `${file}.wgsl` });
      m = this.device.createShaderModule({ code, label: file });
      this.modules.set(file, m);
    }
    return m;
  }
}

/** Uniform buffer from a list of u32/f32 fields, padded to 16 bytes as WGSL's uniform layout wants. */
export function uniforms(device: GPUDevice, fields: Array<{ u32: number } | { f32: number }>): GPUBuffer {
  const n = Math.max(4, Math.ceil(fields.length / 4) * 4);
  const data = new ArrayBuffer(n * 4);
  const view = new DataView(data);
  fields.forEach((f, i) => ('u32' in f ? view.setUint32(i * 4, f.u32, true) : view.setFloat32(i * 4, f.f32, true)));
  const buf = device.createBuffer({ size: data.byteLength, usage: 0x40 /* UNIFORM */ | 0x08 /* COPY_DST */, label: 'uniforms' });
  device.queue.writeBuffer(buf, 0, new Uint32Array(data));
  return buf;
}
