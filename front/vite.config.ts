/// <reference types="vitest/config" />
import { defineConfig } from 'vite';

// No React plugin: esbuild compiles JSX with the automatic runtime. The output goes to
// dist/, which the node's build.rs embeds; files under /assets/ get content-hashed names
// (served as immutable), index.html is served with no-cache.
export default defineConfig({
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    target: 'es2020',
    sourcemap: false,
    // The polyfill would add bytes for browsers the node's users do not run; the node's
    // CSP forbids inline scripts anyway, and Vite's polyfill is bundled, not inline.
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  server: { port: 5173, strictPort: false },
  test: {
    environment: 'jsdom',
    setupFiles: ['./test/setup.ts'],
    include: ['test/**/*.test.{ts,tsx}'],
  },
});
