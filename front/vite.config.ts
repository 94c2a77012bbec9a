/// <reference types="vitest/config" />
import { defineConfig } from 'vite';

// `PURR_UI="$(purr url)" npm run dev`: the dev server proxies /ws and
// /api to that node, presenting the node's token and its own Origin, so the UI can be
// worked on with hot reload against a real node.
const node = process.env.PURR_UI ? new URL(process.env.PURR_UI) : null;
const nodeProxy = node && {
  target: `http://${node.host}`,
  changeOrigin: true,
  headers: {
    Authorization: `Bearer ${node.searchParams.get('token') ?? ''}`,
    Origin: `http://${node.host}`,
  },
};

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
    // The polyfill would add bytes for browsers the node's users do not run.
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  server: {
    port: 5173,
    proxy: nodeProxy ? { '/ws': { ...nodeProxy, ws: true }, '/api': nodeProxy } : undefined,
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./test/setup.ts'],
    include: ['test/**/*.test.{ts,tsx}'],
  },
});
