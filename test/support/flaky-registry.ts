import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Blob, BuiltImage } from './images.js';

/**
 * A registry served from memory over real sockets, whose blob answers tests can bend: ignore Range, lie in
 * Content-Range, reset the connection mid-body, throttle, or answer 429/503 first. Every request is recorded with
 * what it asked for and how many body bytes it was sent, so tests can count what the network carried.
 */
export interface ServedRequest {
  readonly method: string;
  readonly path: string;
  readonly range?: string;
  readonly status: number;
  /** Body bytes written before the response ended or the socket was cut. */
  bytes: number;
  readonly at: number;
}

export interface FlakyBehaviour {
  /** `ignore`: answer Range with a full 200; `lie`: answer 206 with a Content-Range that starts at 0. */
  range: 'honor' | 'ignore' | 'lie';
  /** Cut the socket after this many body bytes, for the next `count` blob GETs of large blobs. */
  resets: { count: number; afterBytes: number };
  /** Statuses to answer blob GETs with before serving them, in order (e.g. 503, 503, or 429 with Retry-After). */
  failures: { status: number; retryAfter?: string }[];
  /** The same for manifest requests (GET and HEAD). */
  manifestFailures: { status: number; retryAfter?: string }[];
  /** Bytes per 10 ms for large blobs; 0 for full speed. */
  throttleBytesPer10ms: number;
  /**
   * Cut the socket after `afterBytes` body bytes, for the next `count` blob GETs whose Range starts in
   * `[from, to)`: one segment of a download in ranges losing its connection.
   */
  rangeResets: { from: number; to: number; count: number; afterBytes: number };
  /**
   * Die after sending this many blob bytes in all: every open connection is cut, and every later request too (a
   * mirror whose host goes away mid-blob). Infinity: never.
   */
  dieAfterBytes: number;
}

export interface FlakyRegistry {
  readonly host: string;
  readonly requests: ServedRequest[];
  readonly behaviour: FlakyBehaviour;
  serve(repository: string, tag: string, image: BuiltImage): void;
  /** Serves any manifest bytes under a tag and its digest, and blobs by digest. */
  serveRaw(repository: string, tag: string, manifest: Blob, blobs: readonly Blob[]): void;
  /** Blob GETs for a digest (manifests excluded). */
  blobRequests(digest: string): ServedRequest[];
  stop(): Promise<void>;
}

const LARGE = 64 * 1024;

/** A registry that bends nothing: what tests reset the behaviour to between cases. */
export function wellBehaved(): FlakyBehaviour {
  return {
    range: 'honor',
    resets: { count: 0, afterBytes: 0 },
    failures: [],
    manifestFailures: [],
    throttleBytesPer10ms: 0,
    rangeResets: { from: 0, to: 0, count: 0, afterBytes: 0 },
    dieAfterBytes: Infinity,
  };
}

export async function startFlakyRegistry(): Promise<FlakyRegistry> {
  const manifests = new Map<string, Blob>();
  const blobs = new Map<string, Buffer>();
  const requests: ServedRequest[] = [];
  const behaviour = wellBehaved();
  const served = { bytes: 0 };

  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    if (served.bytes >= behaviour.dieAfterBytes) return void req.socket.destroy();
    const record: ServedRequest = {
      method: req.method ?? 'GET',
      path,
      ...(req.headers.range && { range: req.headers.range }),
      status: 0,
      bytes: 0,
      at: Date.now(),
    };
    requests.push(record);
    const send = (status: number, headers: Record<string, string>, body?: Buffer) => {
      (record as { status: number }).status = status;
      res.writeHead(status, headers);
      if (body) record.bytes += body.length;
      res.end(body);
    };
    const sendFailure = ({ status, retryAfter }: { status: number; retryAfter?: string }) =>
      send(status, retryAfter ? { 'retry-after': retryAfter } : {}, Buffer.from('try later'));
    if (path === '/v2/') return send(200, {});
    const manifest = /^\/v2\/(.+)\/manifests\/(.+)$/.exec(path);
    if (manifest) {
      const found = manifests.get(`${manifest[1]}:${manifest[2]}`);
      if (!found)
        return send(
          404,
          { 'content-type': 'application/json' },
          Buffer.from('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'),
        );
      const failure = behaviour.manifestFailures.shift();
      if (failure) return sendFailure(failure);
      return send(200, { 'content-type': found.mediaType, 'docker-content-digest': found.digest }, found.bytes);
    }
    const blob = /^\/v2\/.+\/blobs\/(.+)$/.exec(path);
    const body = blob && blobs.get(blob[1]!);
    if (!body) return send(404, {}, Buffer.from('{"errors":[{"code":"BLOB_UNKNOWN"}]}'));
    const failure = behaviour.failures.shift();
    if (failure) return sendFailure(failure);
    serveBlob(req, res, body, record, behaviour, served);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    host: `127.0.0.1:${port}`,
    requests,
    behaviour,
    serve(repository, tag, image) {
      for (const reference of [tag, image.manifest.digest]) manifests.set(`${repository}:${reference}`, image.manifest);
      for (const b of [image.config, ...image.layers]) blobs.set(b.digest, b.bytes);
    },
    serveRaw(repository, tag, manifest, rawBlobs) {
      for (const reference of [tag, manifest.digest]) manifests.set(`${repository}:${reference}`, manifest);
      for (const b of rawBlobs) blobs.set(b.digest, b.bytes);
    },
    blobRequests: (digest) => requests.filter((r) => r.path.endsWith(`/blobs/${digest}`)),
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function serveBlob(
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer,
  record: ServedRequest,
  behaviour: FlakyBehaviour,
  served: { bytes: number },
): void {
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  let start = 0;
  let end = body.length;
  let status = 200;
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes' };
  if (range && behaviour.range !== 'ignore') {
    status = 206;
    start = Number(range[1]);
    end = range[2] ? Math.min(body.length, Number(range[2]) + 1) : body.length;
    const claimed = behaviour.range === 'lie' ? 0 : start;
    headers['content-range'] = `bytes ${claimed}-${claimed + end - start - 1}/${body.length}`;
  }
  const slice = body.subarray(start, end);
  headers['content-length'] = String(slice.length);
  (record as { status: number }).status = status;
  res.writeHead(status, headers);

  const large = body.length >= LARGE;
  const { rangeResets } = behaviour;
  const inResetRange = range && rangeResets.count > 0 && rangeResets.from <= start && start < rangeResets.to;
  const cutAfter = inResetRange
    ? (rangeResets.count--, rangeResets.afterBytes)
    : large && behaviour.resets.count > 0
      ? (behaviour.resets.count--, behaviour.resets.afterBytes)
      : Infinity;
  const chunk = large && behaviour.throttleBytesPer10ms > 0 ? behaviour.throttleBytesPer10ms : 64 * 1024;
  let offset = 0;
  const pump = () => {
    if (res.destroyed) return;
    while (offset < slice.length) {
      if (offset >= cutAfter || served.bytes >= behaviour.dieAfterBytes) {
        res.socket?.destroy(); // a reset mid-body
        return;
      }
      const next = Math.min(slice.length, offset + chunk, cutAfter);
      const piece = slice.subarray(offset, next);
      offset = next;
      record.bytes += piece.length;
      served.bytes += piece.length;
      const more = res.write(piece);
      if (large && behaviour.throttleBytesPer10ms > 0) return void setTimeout(pump, 10);
      if (!more) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
}
