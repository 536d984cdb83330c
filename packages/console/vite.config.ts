import { defineConfig } from 'vite';

// Static assets only: served by `hawser server` from dist/ (no CDN, no
// runtime download), so the console works air-gapped.
export default defineConfig({
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, target: 'es2022' },
  // The CSP allows no inline script: keep Vite from inlining its preload helper.
  esbuild: { jsx: 'automatic' },
});
