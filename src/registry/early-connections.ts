/**
 * TCP connections opened before anything asks for them. A run that knows which registry it will ask first opens that
 * connection at once, so that the TCP handshake's round trip overlaps the run's own set-up (loading the HTTP client,
 * building the TLS context, opening the output and the cache: 30-40 ms of a CLI pull). The first TLS connection to
 * that host and port is then made over it. Far from the registry that is a round trip's worth of waiting saved, up
 * to the set-up's length; near it, nothing changes.
 */
import { connect, type Socket } from 'node:net';

/** One per transport: the sockets opened early, by `host:port`, until a connection takes them or the run ends. */
export class EarlyConnections {
  private readonly sockets = new Map<string, Socket>();

  /** Starts a TCP connection to `origin` (`https://host[:port]`); a failure is only noted (the real connect reports it). */
  open(origin: string): void {
    const { hostname, port } = new URL(origin);
    const key = keyOf(hostname, port || '443');
    if (this.sockets.has(key)) return;
    const socket = connect({ host: bare(hostname), port: Number(port || 443), noDelay: true });
    socket.on('error', () => socket.destroy());
    this.sockets.set(key, socket);
  }

  /**
   * The socket opened early to `hostname:port`, once it is connected; undefined when there is none, or it failed
   * or took longer than `timeoutMs` (then the caller connects as it would have, and meets the failure itself).
   */
  async take(hostname: string, port: string, timeoutMs: number): Promise<Socket | undefined> {
    const key = keyOf(hostname, port || '443');
    const socket = this.sockets.get(key);
    this.sockets.delete(key);
    if (!socket || socket.destroyed) return undefined;
    if (!socket.connecting) return socket;
    return new Promise((resolve) => {
      const settle = (connected: boolean) => {
        clearTimeout(timer);
        socket.off('connect', onConnect).off('close', onClose);
        if (!connected) socket.destroy();
        resolve(connected ? socket : undefined);
      };
      const onConnect = () => settle(true);
      const onClose = () => settle(false);
      const timer = setTimeout(onClose, timeoutMs);
      socket.once('connect', onConnect).once('close', onClose);
    });
  }

  /** Closes what no connection took. */
  close(): void {
    for (const socket of this.sockets.values()) socket.destroy();
    this.sockets.clear();
  }
}

function keyOf(hostname: string, port: string): string {
  return `${bare(hostname).toLowerCase()}:${port}`;
}

/** A hostname without the brackets of an IPv6 literal, as net.connect wants it. */
function bare(hostname: string): string {
  return hostname.replace(/^\[|\]$/g, '');
}
