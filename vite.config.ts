import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { VitePWA } from 'vite-plugin-pwa';
import type { Plugin } from 'vite';

/**
 * The main thread never runs a kernel: WGSL belongs in the worker's bundle. A UI import that reaches the kernel
 * registry (as `engine/lora/adapter.ts` for a list of target names once did) pulls every shader into the page's
 * chunks, so the build refuses it and names the chunk. The worker's bundle is a separate build, emitted here as an
 * asset, so only chunks are checked. (tests/app/edges.test.ts checks the same edge from the sources.)
 */
function noWgslOnMainThread(): Plugin {
  return {
    name: 'alloy:no-wgsl-on-main-thread',
    apply: 'build',
    generateBundle(_options, bundle) {
      for (const out of Object.values(bundle)) {
        if (out.type !== 'chunk') continue;
        const hit = /@compute\b|@workgroup_size\b|var<storage\b/.exec(out.code);
        if (hit) this.error(`${out.fileName} (main thread) contains WGSL ("${hit[0]}"): a UI import reaches the GPU side (src/engine/gpu, ops or model); see docs/ARCHITECTURE.md, "Edges"`);
      }
    },
  };
}

// The studio is a static single-page app: everything (GPU work included) runs in the browser.
// vite-plugin-pwa (Workbox) precaches the built app shell, the built-in demo models and data, so after one
// visit the studio opens and loads its demo with no network; models a user loads live in IndexedDB already.
export default defineConfig({
  plugins: [
    svelte(),
    noWgslOnMainThread(),
    VitePWA({
      registerType: 'autoUpdate',
      // registered from src/app/lib/offline.ts, which also reports the state in the page
      injectRegister: false,
      manifest: {
        name: 'Alloy studio',
        short_name: 'Alloy',
        description: 'Fine-tune, merge and benchmark small language models on your own GPU, in the browser.',
        start_url: '/',
        scope: '/',
        display: 'standalone',
        background_color: '#15171c',
        theme_color: '#3a5bd9',
        icons: [
          { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
          { src: '/favicon.svg', sizes: 'any', type: 'image/svg+xml' },
        ],
      },
      workbox: {
        // every built file, the demo data, and the hub-shaped demo models (their API listings have no extension)
        globPatterns: ['**/*.{js,css,html,svg,png,wasm,json,jsonl,txt,csv,md}', 'hub/**/*'],
        // the pickle fixture exists to test a refusal; it has no place in an offline cache
        globIgnores: ['hub/**/tiny-llama-pickle/**', 'hub/api/models/alloy-fixtures/tiny-llama-pickle/**'],
        maximumFileSizeToCacheInBytes: 16 * 1024 * 1024,
        // the hub client asks listings with ?blobs=true, which a static host (and this cache) ignores
        ignoreURLParametersMatching: [/^blobs$/, /^utm_/],
        navigateFallback: '/index.html',
        navigateFallbackDenylist: [/^\/hub\//],
        cleanupOutdatedCaches: true,
        // a new version takes over at once, and the first visit's page is served by the worker without a reload
        clientsClaim: true,
        skipWaiting: true,
      },
    }),
  ],
  worker: { format: 'es' },
  build: { target: 'es2022', sourcemap: true },
  server: { port: 5173 },
  preview: { port: 4173 },
});
