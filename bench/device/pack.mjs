#!/usr/bin/env node
// Packs what a lent GPU machine needs to run the device check (bench/device/check.ts) into .device-kit/ (git
// ignored; the device tool's `carry` takes it along): the check bundled into one file by Vite (the engine, its WGSL
// inlined by import.meta.glob, everything but the `webgpu` package), that package's Linux x64 Dawn, this machine's
// node binary (the lent machine has Python and CUDA but no Node) and the Vulkan loader's Debian packages
// (Dawn's backend on Linux; the lent machine's image may lack the loader, DEVELOPERS' device notes). Node and Dawn
// travel xz-compressed: the carried tree is limited to 64 MiB. bench/device/run-on-device.sh unpacks and runs it.
//   node bench/device/pack.mjs [--no-debs] [--bundle-only] [--kit DIR]
// --bundle-only writes device-check.mjs alone (the GPU tier's test runs that bundle on SwiftShader, resolving
// `webgpu` from the repository's node_modules); --kit DIR packs there instead of .device-kit.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'vite';

const { values: opts } = parseArgs({ options: { 'no-debs': { type: 'boolean' }, 'bundle-only': { type: 'boolean' }, kit: { type: 'string' } } });
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const kit = resolve(root, opts.kit ?? '.device-kit');
rmSync(kit, { recursive: true, force: true });
mkdirSync(kit, { recursive: true });

await build({
  root,
  configFile: false,
  publicDir: false,
  logLevel: 'warn',
  build: {
    ssr: 'bench/device/main.ts',
    outDir: kit,
    emptyOutDir: false,
    target: 'node20',
    minify: false,
    rollupOptions: { output: { entryFileNames: 'device-check.mjs', format: 'es', codeSplitting: false } },
  },
  ssr: { noExternal: true, external: ['webgpu'], target: 'node' },
});

if (opts['bundle-only']) process.exit(0);

// the webgpu package as Node resolves it from the bundle: index.js finds dist/<platform>-<arch>/dawn.node
const web = join(root, 'node_modules/webgpu');
const webKit = join(kit, 'node_modules/webgpu');
mkdirSync(join(webKit, 'dist/linux-x64'), { recursive: true });
for (const f of ['package.json', 'index.js']) copyFileSync(join(web, f), join(webKit, f));
const xz = (from, to) => writeFileSync(to, execFileSync('xz', ['-6', '-T2', '-c', from], { maxBuffer: 1 << 30 }));
xz(join(web, 'dist/linux-x64/dawn.node'), join(kit, 'dawn.node.xz'));
xz(process.execPath, join(kit, 'node.xz'));

if (!opts['no-debs']) {
  // the Vulkan loader and the GL dispatch libraries NVIDIA's Vulkan driver loads, as the device notes list them
  const debs = join(kit, 'debs');
  mkdirSync(debs);
  execFileSync('apt-get', ['download', 'libvulkan1', 'libegl1', 'libglvnd0', 'libopengl0', 'libgl1', 'libglx0', 'libgles2'], { cwd: debs, stdio: 'inherit' });
}

const size = (p) => (statSync(p).isDirectory() ? readdirSync(p).reduce((s, f) => s + size(join(p, f)), 0) : statSync(p).size);
console.log(`.device-kit: ${(size(kit) / 2 ** 20).toFixed(1)} MiB (${readdirSync(kit).join(', ')})`);
