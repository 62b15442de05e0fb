/**
 * Counts the WebGPU API calls made on one GPUDevice, for the throughput bench and the tests that keep the
 * per-token / per-step counts from growing (issue 14). Only the calls whose number scales the engine's fixed
 * cost per dispatch are counted: buffers, bind groups, encoders, pipelines, passes, dispatches, submits,
 * writeBuffer (calls and bytes), copies and mapAsync (calls and bytes mapped for reading).
 *
 * Why instance wrapping and not a Proxy device: the methods are replaced as own properties of this device, its
 * queue, and the encoders, passes and buffers it hands out, so the engine runs unchanged on the very object it
 * already holds (a Proxy would have to be passed in before load and would miss objects that captured the real
 * device). On Dawn in Node (the `webgpu` package) the GPU objects are native wrappers whose methods live on the
 * prototype; an own property shadows them and `dispose` deletes it again (tests/engine/gpu/call-counter.gpu.test.ts
 * checks both on Dawn). Nothing global (GPUDevice.prototype) is touched, so other devices are not counted.
 *
 * Objects created while counting keep their wrappers after dispose (they cannot be found again), but the
 * wrappers stop counting then. Two counters on one device nest: dispose them in reverse order.
 */

export interface GpuCallCounts {
  buffers: number;
  bindGroups: number;
  encoders: number;
  /** createComputePipeline + createComputePipelineAsync */
  pipelines: number;
  passes: number;
  /** dispatchWorkgroups + dispatchWorkgroupsIndirect */
  dispatches: number;
  copies: number;
  submits: number;
  writeBuffers: number;
  writeBytes: number;
  mapAsyncs: number;
  /** bytes of mapAsync(READ) ranges: what came back to the CPU */
  readBytes: number;
}

export interface GpuCallCounter {
  /** the counts since creation or the last reset */
  snapshot(): GpuCallCounts;
  reset(): void;
  /** restores the device's and queue's own methods; later calls through wrapped objects are not counted */
  dispose(): void;
}

const zero = (): GpuCallCounts => ({
  buffers: 0,
  bindGroups: 0,
  encoders: 0,
  pipelines: 0,
  passes: 0,
  dispatches: 0,
  copies: 0,
  submits: 0,
  writeBuffers: 0,
  writeBytes: 0,
  mapAsyncs: 0,
  readBytes: 0,
});

/** Divides every count by n (per token, per step), keeping fractions. */
export function perUnit(c: GpuCallCounts, n: number): GpuCallCounts {
  return Object.fromEntries(Object.entries(c).map(([k, v]) => [k, v / n])) as unknown as GpuCallCounts;
}

// GPUMapMode.READ, spelled out so this module does not need the globals installed before import
const MAP_READ = 0x0001;

type AnyFn = (...args: never[]) => unknown;

export function countGpuCalls(device: GPUDevice): GpuCallCounter {
  let counts = zero();
  let active = true;
  const restores: (() => void)[] = [];

  /** Replaces obj[key] by an own property wrapping the current method; remembers how to undo it when `undo`. */
  function wrap<T extends object, K extends keyof T>(obj: T, key: K, make: (orig: T[K] & AnyFn) => T[K], undo: boolean): void {
    const own = Object.getOwnPropertyDescriptor(obj, key);
    const orig = (obj[key] as T[K] & AnyFn).bind(obj) as T[K] & AnyFn;
    Object.defineProperty(obj, key, { value: make(orig), configurable: true, writable: true, enumerable: false });
    if (undo) restores.push(() => (own ? Object.defineProperty(obj, key, own) : delete (obj as Record<PropertyKey, unknown>)[key as PropertyKey]));
  }
  const bump = (k: keyof GpuCallCounts, by = 1) => {
    if (active) counts[k] += by;
  };

  const wrapPass = (pass: GPUComputePassEncoder) => {
    wrap(pass, 'dispatchWorkgroups', (f) => ((x: number, y?: number, z?: number) => (bump('dispatches'), f(x, y, z))) as typeof f, false);
    wrap(pass, 'dispatchWorkgroupsIndirect', (f) => ((b: GPUBuffer, o: number) => (bump('dispatches'), f(b, o))) as typeof f, false);
    return pass;
  };
  const wrapEncoder = (enc: GPUCommandEncoder) => {
    wrap(enc, 'beginComputePass', (f) => ((d?: GPUComputePassDescriptor) => (bump('passes'), wrapPass(f(d)))) as typeof f, false);
    wrap(enc, 'copyBufferToBuffer', (f) => ((...a: unknown[]) => (bump('copies'), (f as (...x: unknown[]) => void)(...a))) as typeof f, false);
    return enc;
  };
  const wrapBuffer = (buf: GPUBuffer) => {
    wrap(
      buf,
      'mapAsync',
      (f) =>
        ((mode: number, offset?: number, size?: number) => {
          bump('mapAsyncs');
          if (mode & MAP_READ) bump('readBytes', size ?? buf.size - (offset ?? 0));
          return f(mode, offset, size);
        }) as typeof f,
      false,
    );
    return buf;
  };

  wrap(device, 'createBuffer', (f) => ((d: GPUBufferDescriptor) => (bump('buffers'), wrapBuffer(f(d)))) as typeof f, true);
  wrap(device, 'createBindGroup', (f) => ((d: GPUBindGroupDescriptor) => (bump('bindGroups'), f(d))) as typeof f, true);
  wrap(device, 'createCommandEncoder', (f) => ((d?: GPUCommandEncoderDescriptor) => (bump('encoders'), wrapEncoder(f(d)))) as typeof f, true);
  wrap(device, 'createComputePipeline', (f) => ((d: GPUComputePipelineDescriptor) => (bump('pipelines'), f(d))) as typeof f, true);
  wrap(device, 'createComputePipelineAsync', (f) => ((d: GPUComputePipelineDescriptor) => (bump('pipelines'), f(d))) as typeof f, true);
  const queue = device.queue;
  wrap(queue, 'submit', (f) => ((cbs: Iterable<GPUCommandBuffer>) => (bump('submits'), f(cbs))) as typeof f, true);
  wrap(
    queue,
    'writeBuffer',
    (f) =>
      ((buffer: GPUBuffer, bufferOffset: number, data: BufferSource | SharedArrayBuffer, dataOffset?: number, size?: number) => {
        bump('writeBuffers');
        // size and dataOffset count elements for typed arrays, bytes otherwise (the WebGPU spec's rule)
        const el = ArrayBuffer.isView(data) && !(data instanceof DataView) ? (data as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT : 1;
        const total = data.byteLength / el;
        bump('writeBytes', (size ?? total - (dataOffset ?? 0)) * el);
        return f(buffer, bufferOffset, data, dataOffset, size);
      }) as typeof f,
    true,
  );

  return {
    snapshot: () => ({ ...counts }),
    reset: () => void (counts = zero()),
    dispose: () => {
      active = false;
      while (restores.length) restores.pop()!();
    },
  };
}
