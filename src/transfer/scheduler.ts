/**
 * Who may transfer when: large blobs share `concurrency` slots, at most `perHost` of them against one registry
 * host; small blobs (configs, tiny layers) have `concurrency` slots of their own, so they never wait behind a big
 * layer and an image of many small layers is not held to the per-host cap meant for bandwidth. Small blobs from a
 * host that multiplexes (HTTP/2) have SMALL_SLOTS_PER_SLOT × `concurrency` slots instead: they share one
 * connection, so what limits them is round trips (40 small layers asked 16 at a time took three round trips, asked
 * at once one), not connections or sockets.
 */
import pLimit, { type LimitFunction } from 'p-limit';

/** Blobs of at most this size are small: they have slots of their own. */
export const SMALL_BLOB_BYTES = 1024 * 1024;
/** Small blobs have this many slots for each large one. */
const SMALL_SLOTS_PER_SLOT = 4;

/** Slots for transfers: see SMALL_BLOB_BYTES. */
export class Scheduler {
  private readonly small: LimitFunction;
  private readonly smallMultiplexed: LimitFunction;
  private readonly large: LimitFunction;
  private readonly hosts = new Map<string, LimitFunction>();

  constructor(
    concurrency: number,
    private readonly perHost: number,
    /** Whether a registry host's requests share one multiplexed (HTTP/2) connection, as far as known. */
    private readonly multiplexes: (host: string) => boolean = () => false,
  ) {
    this.small = pLimit(concurrency);
    this.smallMultiplexed = pLimit(concurrency * SMALL_SLOTS_PER_SLOT);
    this.large = pLimit(concurrency);
  }

  run<T>(host: string, size: number, task: () => Promise<T>): Promise<T> {
    if (size <= SMALL_BLOB_BYTES) return (this.multiplexes(host) ? this.smallMultiplexed : this.small)(task);
    return this.hostLimit(host)(() => this.large(task));
  }

  private hostLimit(host: string): LimitFunction {
    let limit = this.hosts.get(host);
    if (!limit) {
      limit = pLimit(this.perHost);
      this.hosts.set(host, limit);
    }
    return limit;
  }
}
