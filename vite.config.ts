import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { VitePWA } from 'vite-plugin-pwa';

// The studio is a static single-page app: everything (GPU work included) runs in the browser.
// vite-plugin-pwa (Workbox) precaches the built app shell, the built-in demo models and data, so after one
// visit the studio opens and loads its demo with no network; models a user loads live in IndexedDB already.
export default defineConfig({
  plugins: [
    svelte(),
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
