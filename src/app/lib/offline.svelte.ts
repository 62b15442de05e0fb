// The service worker (vite-plugin-pwa / Workbox, configured in vite.config.ts) and what the page says about
// it: whether the studio is ready to work offline, and whether the network is there right now.
import { registerSW } from 'virtual:pwa-register';

export type OfflineState = 'unsupported' | 'installing' | 'ready' | 'error';

class OfflineStatus {
  state = $state<OfflineState>('installing');
  online = $state(typeof navigator === 'undefined' ? true : navigator.onLine);
  error = $state<string | null>(null);

  start(): void {
    addEventListener('online', () => (this.online = true));
    addEventListener('offline', () => (this.online = false));
    // The dev server serves modules straight from source; only a built app has a service worker to install.
    if (!('serviceWorker' in navigator) || import.meta.env.DEV) {
      this.state = 'unsupported';
      return;
    }
    // A page already controlled by the worker was served from its cache: it works offline now.
    if (navigator.serviceWorker.controller) this.state = 'ready';
    registerSW({
      immediate: true,
      onOfflineReady: () => (this.state = 'ready'),
      onRegisteredSW: (_url, reg) => {
        if (reg?.active) this.state = 'ready';
      },
      onRegisterError: (e: unknown) => {
        this.state = 'error';
        this.error = e instanceof Error ? e.message : String(e);
      },
    });
  }
}

export const offline = new OfflineStatus();
