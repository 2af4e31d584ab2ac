#!/usr/bin/env node
// undici parses HTTP with llhttp compiled to WebAssembly, and V8 also compiles that module with its optimizing
// compiler on background threads, which the process waits for before it can exit: about 100 ms and 35 MB on every
// run of this short-lived CLI. The baseline compiler's code is plenty for a parser that mostly scans headers.
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--liftoff-only');
// With --debug, errors print their stacks: source maps (turned on before the bundle loads, or its frames would not
// be mapped) make those name tsc's files and lines instead of the bundle's.
if (process.argv.includes('--debug')) process.setSourceMapsEnabled(true);
const { main } = await import('../dist/bundle/frozen.js');

process.exitCode = await main(process.argv);
