/**
 * The kernel registry: WGSL lives in shaders/*.wgsl (one file per kernel family), is bundled as text, and is
 * compiled once per (file, entry point, override constants) with createComputePipelineAsync so compilation
 * does not block the worker and can overlap with weight downloads.
 */
import { deviceHwTuning, type HwTuning } from './hw-tuning.ts';
import { isRange, type BufferOrRange } from './buffer-pool.ts';
import { AlloyError } from '../../common/errors.ts';
import { deviceKernelFamily, deviceSubgroups } from './device.ts';
import type { KernelFamily } from '../kernel-family.ts';

const sources = import.meta.glob('../../../shaders/*.wgsl', { query: '?raw', import: 'default', eager: true }) as Record<
  string,
  string
>;

const rawSources: Record<string, string> = Object.fromEntries(
  Object.entries(sources).map(([path, src]) => [path.replace(/^.*\//, '').replace(/\.wgsl$/, ''), src]),
);

/**
 * Each `// #include NAME` line of `src` replaced by shaders/NAME.wgsl, or by the first twin NAME + suffix (for each
 * suffix of `twins`, e.g. _sg) that exists.
 */
function expandIncludes(name: string, src: string, twins: readonly string[]): string {
  return src.replace(/^\/\/ #include (\w+)$/gm, (line, lib: string) => {
    const twin = twins.map((t) => rawSources[`${lib}${t}`]).find((code) => code !== undefined);
    const code = twin ?? rawSources[lib];
    if (code === undefined) throw new AlloyError(`shader ${name}.wgsl includes ${lib}, which is not in shaders/`, { file: `${name}.wgsl` });
    return code;
  });
}

/** The libraries `name` includes. */
function includesOf(name: string): string[] {
  return [...rawSources[name]!.matchAll(/^\/\/ #include (\w+)$/gm)].map((m) => m[1]!);
}

const kernelNames = Object.keys(rawSources).filter((name) => !name.startsWith('_'));

/**
 * Kernels by file name, with each `// #include NAME` line replaced by shaders/NAME.wgsl: a library of WGSL
 * functions several kernels share (its name starts with _, and it is not a kernel itself), written once.
 */
export const SHADER_SOURCES: Record<string, string> = Object.fromEntries(kernelNames.map((name) => [name, expandIncludes(name, rawSources[name]!, [])]));

/**
 * The subgroup variants, for a device with `subgroups`: a kernel that includes a library NAME with a twin
 * NAME_sg.wgsl (the same functions written with subgroup operations, e.g. _hw_reduce_sg) gets the twin instead,
 * after `enable subgroups;`. The kernel's own text is the same in both; only kernels with such an include have one.
 */
export const SUBGROUP_SHADER_SOURCES: Record<string, string> = Object.fromEntries(
  kernelNames
    .filter((name) => includesOf(name).some((lib) => rawSources[`${lib}_sg`] !== undefined))
    .map((name) => [name, `enable subgroups;\n${expandIncludes(name, rawSources[name]!, ['_sg'])}`]),
);

/**
 * A kernel's storage variant: file `NAME+TAG` is NAME with each included library that has a twin LIB_TAG.wgsl
 * replaced by it (e.g. attention+f16: _kv_load_f16 reads a KV cache stored as f16 pairs). Tags combine:
 * `NAME+TAG1+TAG2` takes each library's first twin in tag order (e.g. hw_matmul+a16+c16: f16 A operand and f16 C,
 * act-dtype.ts). The kernel's own text is shared; subgroup twins still apply where `subgroups`. Undefined when some
 * tag has no twin among the included libraries (a file no kernel provides).
 */
export function variantSource(file: string, subgroups: boolean): string | undefined {
  const [name, ...tags] = file.split('+') as [string, ...string[]];
  if (tags.length === 0) return (subgroups ? SUBGROUP_SHADER_SOURCES[name] : undefined) ?? SHADER_SOURCES[name];
  if (rawSources[name] === undefined) return undefined;
  const libs = includesOf(name);
  if (!tags.every((tag) => libs.some((lib) => rawSources[`${lib}_${tag}`] !== undefined))) return undefined;
  const sg = subgroups && libs.some((lib) => rawSources[`${lib}_sg`] !== undefined);
  return `${sg ? 'enable subgroups;\n' : ''}${expandIncludes(name, rawSources[name]!, [...tags.map((t) => `_${t}`), ...(sg ? ['_sg'] : [])])}`;
}

export type Overrides = Record<string, number | boolean>;

/**
 * How many uniform blocks and bind groups the caches below keep. Steady-state work (a decode step, a training
 * micro-batch) reuses a few hundred of each; the bound only stops shapes that never recur (prefills of every
 * length) from growing the caches without end.
 */
export const UNIFORM_CACHE_SIZE = 4096;
export const BIND_GROUP_CACHE_SIZE = 8192;

export class KernelRegistry {
  private modules = new Map<string, GPUShaderModule>();
  private pipelines = new Map<string, Promise<GPUComputePipeline>>();
  private layouts = new WeakMap<GPUComputePipeline, GPUBindGroupLayout>();
  // Uniform blocks by content: every layer of a model dispatches the same shapes, so one block serves them all.
  private uniformBlocks = new Map<string, GPUBuffer>();
  // Bind groups by (pipeline, buffers): a pool hands the same buffers back in the same order every step, so
  // after the first step every dispatch finds its bind group here instead of creating one.
  private bindGroups = new Map<string, GPUBindGroup>();
  private ids = new WeakMap<object, number>();
  private nextId = 1;
  // Scratch for kernels that need a temporary between two dispatches (split-K partial sums): one buffer, grown by
  // replacement; a replaced one is dropped, not destroyed, since commands not yet submitted may use it.
  private scratchBuf: GPUBuffer | null = null;

  /**
   * @param family which kernels the ops dispatch (every op asks `kernels.family`); by default the family chosen
   * when the device was acquired (acquireDevice: by adapter, or forced by ALLOY_KERNELS / ?kernels=). Tests pass
   * it to run both families on one device: the families use different shader files, so they share the caches.
   */
  constructor(
    readonly device: GPUDevice,
    readonly family: KernelFamily = deviceKernelFamily(device),
    /** the hardware family's tile rule for this adapter (gpu/hw-tuning.ts) */
    readonly hwTuning: HwTuning = deviceHwTuning(device),
    /**
     * whether kernels with a subgroup variant (SUBGROUP_SHADER_SOURCES) run it: by default as decided when the
     * device was acquired (it has `subgroups`, and ALLOY_SUBGROUPS=off did not turn them off)
     */
    readonly subgroups: boolean = deviceSubgroups(device),
  ) {
    if (subgroups && !device.features.has('subgroups')) {
      throw new AlloyError('subgroup kernels were asked for on a device without the subgroups feature');
    }
  }

  /** A small integer naming a GPU object for the cache keys (objects are never compared by content). */
  private idOf(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) {
      id = this.nextId++;
      this.ids.set(o, id);
    }
    return id;
  }

  /**
   * A uniform buffer holding `fields` (u32/f32, padded to 16 bytes as WGSL's uniform layout wants), shared by every
   * dispatch with the same values. Never written again once made, so sharing is safe across encoders. Evicted
   * blocks are dropped, not destroyed: a command buffer not yet submitted may still use them.
   */
  uniformBlock(fields: ReadonlyArray<{ u32: number } | { f32: number }>): GPUBuffer {
    const words = packUniforms(fields);
    const key = words.join(',');
    let buf = this.uniformBlocks.get(key);
    if (!buf) {
      buf = this.device.createBuffer({ size: words.byteLength, usage: 0x40 /* UNIFORM */ | 0x08 /* COPY_DST */, label: 'uniforms' });
      this.device.queue.writeBuffer(buf, 0, words);
      evictOldest(this.uniformBlocks, UNIFORM_CACHE_SIZE);
      this.uniformBlocks.set(key, buf);
    }
    return buf;
  }

  /**
   * A storage buffer of at least `bytes` for one op's temporaries between its dispatches. Commands run in order,
   * so consecutive ops may share it; it only grows (made at the first use of each larger size, not per step).
   */
  scratch(bytes: number): GPUBuffer {
    if (!this.scratchBuf || this.scratchBuf.size < bytes) {
      const size = Math.max(bytes, 2 * (this.scratchBuf?.size ?? 0));
      this.scratchBuf = this.device.createBuffer({ size: Math.ceil(size / 4) * 4, usage: 0x80 /* STORAGE */ | 0x04 /* COPY_SRC */ | 0x08 /* COPY_DST */, label: 'kernel-scratch' });
    }
    return this.scratchBuf;
  }

  /** The bind group of `pipeline` (group 0) over `buffers` (or ranges of them) by binding number, made once and cached. */
  bindGroup(pipeline: GPUComputePipeline, buffers: ReadonlyArray<readonly [number, BufferOrRange]>): GPUBindGroup {
    let key = String(this.idOf(pipeline));
    for (const [binding, b] of buffers) key += isRange(b) ? `,${binding}:${this.idOf(b.buffer)}@${b.offset}+${b.size}` : `,${binding}:${this.idOf(b)}`;
    let bg = this.bindGroups.get(key);
    if (!bg) {
      const entries = buffers.map(([binding, b]) => ({ binding, resource: isRange(b) ? { buffer: b.buffer, offset: b.offset, size: b.size } : { buffer: b } }));
      bg = this.device.createBindGroup({ layout: this.layout(pipeline), entries });
      evictOldest(this.bindGroups, BIND_GROUP_CACHE_SIZE);
      this.bindGroups.set(key, bg);
    }
    return bg;
  }

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
      const code = variantSource(file, this.subgroups);
      if (code === undefined) throw new AlloyError(`no shader named ${file}.wgsl in shaders/`, { file: `${file}.wgsl` });
      m = this.device.createShaderModule({ code, label: code.startsWith('enable subgroups;') ? `${file} (subgroups)` : file });
      this.modules.set(file, m);
    }
    return m;
  }
}

/** u32/f32 fields as the words of a uniform block, padded to 16 bytes as WGSL's uniform layout wants. */
export function packUniforms(fields: ReadonlyArray<{ u32: number } | { f32: number }>): Uint32Array<ArrayBuffer> {
  const n = Math.max(4, Math.ceil(fields.length / 4) * 4);
  const data = new ArrayBuffer(n * 4);
  const view = new DataView(data);
  fields.forEach((f, i) => ('u32' in f ? view.setUint32(i * 4, f.u32, true) : view.setFloat32(i * 4, f.f32, true)));
  return new Uint32Array(data);
}

/** Drops the oldest entries (Map keeps insertion order) until one more fits under `limit`. */
function evictOldest<K, V>(map: Map<K, V>, limit: number): void {
  while (map.size >= limit) map.delete(map.keys().next().value as K);
}
