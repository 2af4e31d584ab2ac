import { defineConfig } from 'rolldown';

// The CLI's start-up is most of a small pull, and Node 20 spends it largely on loading modules one by one: frozen's
// own ~60 ES modules, commander and p-limit. Bundled into one file (plus the chunks loaded only for tar output,
// verify and zstd) they load in about half the time. Input is tsc's output, so the bundle runs the same JavaScript
// as the library. undici stays outside: frozen loads two of its internal files, and the proxy agent loaded from
// its index must share those module instances.
export default defineConfig({
  input: { frozen: 'dist/cli/main.js' },
  platform: 'node',
  external: [/^undici(\/|$)/],
  output: {
    // One level below dist/, as dist/cli/main.js is: main reads ../../package.json for --version.
    dir: 'dist/bundle',
    format: 'esm',
    entryFileNames: '[name].js',
    chunkFileNames: '[name]-[hash].js',
    // For --debug only (bin/frozen.js turns source maps on then): stack frames name tsc's files and lines instead
    // of the bundle's. The map carries those files' text, so it resolves in the package, which ships no dist/cli.
    sourcemap: true,
    sourcemapExcludeSources: false,
  },
});
