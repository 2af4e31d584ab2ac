// The fastest verifying Node program found for `npm run bench`: curl's job (the manifest and every blob, told up
// front, 8 at a time, to files) with every blob's sha256 checked, and nothing between the socket and the hash. No HTTP
// library: 8 keep-alive sockets of node:net speak just enough HTTP/1.1 for the bench registry's answers (200 with a
// Content-Length); reads land in 1 MiB slabs (Node's own reads are 64 KiB), are hashed at once and written with
// synchronous writes, which were as fast here as handing them to the thread pool. It stands for what Node itself costs on
// this machine: where even this program is over a target, no verifying Node program this project could write meets it.
//
// node raw-node.mjs OUT_DIR MANIFEST_URL ACCEPT BLOB_URL...
import { createHash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { connect } from 'node:net';

const [outDir, manifestUrl, accept, ...blobUrls] = process.argv.slice(2);
const SLAB_BYTES = 1024 * 1024;
/** A slab with less room than this is replaced, so that no read is smaller than Node's own. */
const MIN_READ_BYTES = 64 * 1024;

/** One keep-alive connection that fetches its jobs one after another. */
function connection(origin) {
  const { hostname, port } = new URL(origin);
  let slab = Buffer.allocUnsafe(SLAB_BYTES);
  let used = 0;
  let current; // { onBytes(chunk) } of the response being read
  const socket = connect({
    host: hostname,
    port: Number(port),
    onread: {
      buffer: () => {
        if (slab.length - used < MIN_READ_BYTES) [slab, used] = [Buffer.allocUnsafe(SLAB_BYTES), 0];
        return slab.subarray(used);
      },
      callback: (bytes, buffer) => {
        used += bytes;
        current.onBytes(buffer.subarray(0, bytes));
      },
    },
  });
  socket.on('error', (error) => current?.fail(error));
  return {
    fetch: (url, file, headers, expectedHex) =>
      new Promise((resolve, reject) => {
        const { host, pathname } = new URL(url);
        const hash = createHash('sha256');
        const fd = openSync(file, 'w');
        let head = Buffer.alloc(0);
        let left = -1; // body bytes still to come, once the head is read
        const body = (chunk) => {
          hash.update(chunk);
          writeSync(fd, chunk);
          left -= chunk.length;
          if (left > 0) return;
          closeSync(fd);
          if (left < 0) return reject(new Error(`${url}: more bytes than Content-Length`));
          if (expectedHex && hash.digest('hex') !== expectedHex) return reject(new Error(`${url}: digest mismatch`));
          resolve();
        };
        current = {
          fail: reject,
          onBytes: (chunk) => {
            if (left >= 0) return body(chunk);
            head = Buffer.concat([head, chunk]);
            const end = head.indexOf('\r\n\r\n');
            if (end < 0) return;
            const lines = head.subarray(0, end).toString('latin1');
            const status = Number(lines.slice(9, 12));
            const length = /\r\ncontent-length: *(\d+)/i.exec(lines);
            if (status !== 200 || !length)
              return reject(new Error(`${url}: ${status}${length ? '' : ' without Content-Length'}`));
            left = Number(length[1]);
            const rest = head.subarray(end + 4);
            if (rest.length > 0 || left === 0) body(rest);
          },
        };
        const extra = Object.entries(headers)
          .map(([name, value]) => `${name}: ${value}\r\n`)
          .join('');
        socket.write(`GET ${pathname} HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`);
      }),
    close: () => socket.end(),
  };
}

const jobs = [
  (c) => c.fetch(manifestUrl, `${outDir}/manifest`, { accept }),
  ...blobUrls.map((url) => {
    const hex = url.slice(url.lastIndexOf(':') + 1);
    return (c) => c.fetch(url, `${outDir}/${hex}`, {}, hex);
  }),
];
let next = 0;
async function worker() {
  const c = connection(new URL(manifestUrl).origin);
  while (next < jobs.length) await jobs[next++](c);
  c.close();
}
await Promise.all(Array.from({ length: Math.min(8, jobs.length) }, worker));
