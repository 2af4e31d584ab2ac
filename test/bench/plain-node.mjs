// A plain Node program for `npm run bench`: what a straightforward Node program on frozen's HTTP stack costs to
// fetch an image's blobs with verification. Like the curl floor it is told the manifest URL and the blob digests up
// front and fetches them 8 at a time to files; unlike curl it checks every blob's sha256, which frozen must do. It
// loads the same two undici files frozen loads, and runs with the V8 flag frozen sets. No cache, locks, resume or
// layout: it shows what this machine's Node costs before frozen does any of its own work.
//
// node --liftoff-only plain-node.mjs OUT_DIR MANIFEST_URL ACCEPT BLOB_URL...
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import Agent from 'undici/lib/dispatcher/agent.js';
import dispatchRequest from 'undici/lib/api/api-request.js';

const [outDir, manifestUrl, accept, ...blobUrls] = process.argv.slice(2);
const agent = new Agent();

async function fetchTo(url, file, headers, expectedHex) {
  const { origin, pathname } = new URL(url);
  let response = await dispatchRequest.call(agent, { origin, path: pathname, method: 'GET', headers });
  if (response.statusCode >= 300 && response.statusCode < 400) {
    await response.body.dump();
    const next = new URL(response.headers.location, url);
    response = await dispatchRequest.call(agent, {
      origin: next.origin,
      path: `${next.pathname}${next.search}`,
      method: 'GET',
    });
  }
  if (response.statusCode !== 200) throw new Error(`${url}: ${response.statusCode}`);
  const hash = createHash('sha256');
  const out = createWriteStream(file);
  for await (const chunk of response.body) {
    hash.update(chunk);
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await finished(out);
  if (expectedHex && hash.digest('hex') !== expectedHex) throw new Error(`${url}: digest mismatch`);
}

const jobs = [
  () => fetchTo(manifestUrl, `${outDir}/manifest`, { accept }),
  ...blobUrls.map((url) => {
    const hex = url.slice(url.lastIndexOf(':') + 1);
    return () => fetchTo(url, `${outDir}/${hex}`, {}, hex);
  }),
];
let next = 0;
async function worker() {
  while (next < jobs.length) await jobs[next++]();
}
await Promise.all(Array.from({ length: 8 }, worker));
await agent.close();
