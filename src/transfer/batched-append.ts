/**
 * Appends a download's bytes to its partial file in batches of about 1 MiB, one write in flight while the next
 * batch is received (disk and network overlap). The disk failing (full, read-only) is not the network's fault: it
 * is an `output` error, neither retried nor sent to another endpoint.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { FrozenError } from '../errors.js';

/**
 * Received bytes are written in batches of about this size: large writes for big blobs, and at most this much
 * lost to a `kill -9` (bytes received before any other failure are always written out by `drain`).
 */
const WRITE_BATCH_BYTES = 1024 * 1024;

/** A partial file open for appending in batches. */
export class BatchedAppend {
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly path: string,
    readonly handle: FileHandle,
    /** Bytes in the file: what was there, and what the writes so far took. */
    public onDisk: number,
  ) {}

  /** Opens `path` for appending; `size` bytes are already in it. */
  static async open(path: string, size: number): Promise<BatchedAppend> {
    const handle = await open(path, 'a').catch((error: unknown) => Promise.reject(diskError(path, error)));
    return new BatchedAppend(path, handle, size);
  }

  /** Takes a chunk; writes a batch once enough has gathered (waiting for the write before it). */
  async append(chunk: Buffer): Promise<void> {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= WRITE_BATCH_BYTES) await this.flush();
  }

  /** Writes everything taken so far, and waits for it. */
  async drain(): Promise<void> {
    await this.flush();
    await this.writing;
  }

  /** Empties the file, once the write in flight is done. */
  async empty(): Promise<void> {
    await this.writing;
    await this.handle.truncate(0);
  }

  close(): Promise<void> {
    return this.handle.close();
  }

  private async flush(): Promise<void> {
    await this.writing;
    if (this.pending.length === 0) return;
    const batch = this.pending.splice(0);
    const bytes = this.pendingBytes;
    this.pendingBytes = 0;
    this.writing = writeAll(this.handle, batch, bytes, (written) => void (this.onDisk += written)).catch(
      (error: unknown) => Promise.reject(diskError(this.path, error)),
    );
    this.writing.catch(() => undefined); // seen at the next flush; a failure before then must not count as unhandled
  }
}

function diskError(path: string, error: unknown): FrozenError {
  return new FrozenError('output', `cannot write ${path}: ${(error as Error).message}`, { cause: error });
}

/**
 * Appends every byte of `batch`. A write can take fewer bytes than it was given (a disk that just filled up): the
 * rest is written again, and a disk that has no room at all then says so with ENOSPC.
 */
async function writeAll(
  file: FileHandle,
  batch: Buffer[],
  bytes: number,
  onWritten: (bytes: number) => void,
): Promise<void> {
  let { bytesWritten } = await file.writev(batch);
  onWritten(bytesWritten);
  if (bytesWritten === bytes) return;
  const rest = Buffer.concat(batch).subarray(bytesWritten);
  for (let done = 0; done < rest.length;) {
    ({ bytesWritten } = await file.write(rest, done));
    if (bytesWritten === 0) throw new Error('the file system took no bytes');
    onWritten(bytesWritten);
    done += bytesWritten;
  }
}
