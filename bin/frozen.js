#!/usr/bin/env node
// undici parses HTTP with llhttp compiled to WebAssembly, and V8 also compiles that module with its optimizing
// compiler on background threads, which the process waits for before it can exit: about 100 ms and 35 MB on every
// run of this short-lived CLI. The baseline compiler's code is plenty for a parser that mostly scans headers.
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--liftoff-only');
// Each 64 KiB a socket reads is a Buffer outside V8's heap, freed only when a young-generation collection finds it
// dead; those run when the young generation fills, and a download makes little JS garbage per chunk, so tens of MB
// of received chunks wait for one (peak RSS of a 2 GB pull: 101-104 MB). V8 also schedules that collection as a task
// once the young generation is this full (percent of it; 80 by default): with 10, the same pull peaks at 84-86 MB,
// and neither it nor a small pull got slower (docs/performance.md). Unlike --max-semi-space-size, this flag still
// takes effect when set at run time.
setFlagsFromString('--minor-gc-task-trigger=10');
// With --debug, errors print their stacks: source maps (turned on before the bundle loads, or its frames would not
// be mapped) make those name tsc's files and lines instead of the bundle's.
if (process.argv.includes('--debug')) process.setSourceMapsEnabled(true);
const { main } = await import('../dist/bundle/frozen.js');

process.exitCode = await main(process.argv);
