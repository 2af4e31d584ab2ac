import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/**
 * A TCP relay that puts a link's round-trip time between a client and a server, for the far-registry benchmarks:
 * every byte waits half the RTT in each direction, and a new connection waits one RTT before its first byte goes
 * through, as a TCP handshake would make it wait. So a TLS handshake pays its round trips, and a client that opens
 * many connections pays for each, which a proxy that delays whole requests hides. With `bytesPerSecond`, each
 * connection's downstream is paced to that rate, as a far link holds one TCP connection to what its window and the
 * round trip allow, while several connections together get more (what aria2's `-x` and frozen's `--segments` use).
 */
export interface TcpDelayRelay {
  /** `127.0.0.1:port`, to use in place of the server's address. */
  readonly host: string;
  /** TCP connections accepted so far. */
  accepted(): number;
  stop(): Promise<void>;
}

export interface TcpDelayOptions {
  /** Each connection's server-to-client bytes a second; unlimited by default. */
  readonly bytesPerSecond?: number;
}

export async function startTcpDelayRelay(
  target: string,
  rttMs: number,
  options: TcpDelayOptions = {},
): Promise<TcpDelayRelay> {
  const [targetHost, targetPort] = splitHost(target);
  const oneWay = rttMs / 2;
  const open = new Set<Socket>();
  let accepted = 0;
  const server = createServer((client) => {
    accepted++;
    open.add(client);
    client.pause();
    const upstream = connect(targetPort, targetHost);
    // A link delays bytes, it does not hold small writes back: without this, Nagle's algorithm on the relay's own
    // sockets waits for the ACK of the last small write (up to 40 ms of delayed ACK) before sending the next, as
    // when a server's HTTP/2 DATA frame follows its HEADERS.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    open.add(upstream);
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', closeBoth).on('close', () => open.delete(client));
    upstream.on('error', closeBoth).on('close', () => open.delete(upstream));
    // The handshake's round trip: nothing flows until it would have completed.
    setTimeout(() => {
      delayed(client, upstream, oneWay);
      delayed(upstream, client, oneWay, options.bytesPerSecond);
      client.resume();
    }, rttMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    accepted: () => accepted,
    stop: () =>
      new Promise((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Forwards what `from` sends to `to`, each chunk `delayMs` later, in order; its end too. With a rate, each chunk
 * also waits for the link to have carried the ones before it, and `from` is paused while more than 100 ms of bytes
 * wait (the sender's window is full). One timer serves the queue, firing for its head and sending every chunk that
 * is due, so a burst of chunks is not spread out by a timer each.
 */
function delayed(from: Socket, to: Socket, delayMs: number, bytesPerSecond = Infinity): void {
  const queue: { at: number; send: () => void }[] = [];
  let timer: NodeJS.Timeout | undefined;
  let linkFreeAt = 0;
  const flush = () => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && queue[0]!.at <= now + 0.5) queue.shift()!.send();
    if (queue.length > 0) timer = setTimeout(flush, queue[0]!.at - now);
  };
  const enqueue = (at: number, send: () => void) => {
    queue.push({ at, send });
    timer ??= setTimeout(flush, at - performance.now());
  };
  from.on('data', (chunk: Buffer) => {
    const now = performance.now();
    linkFreeAt = Math.max(now, linkFreeAt) + (chunk.length / bytesPerSecond) * 1000;
    enqueue(linkFreeAt + delayMs, () => to.writable && to.write(chunk));
    if (linkFreeAt - now > 100) {
      from.pause();
      setTimeout(() => from.resume(), linkFreeAt - now - 50);
    }
  });
  from.on('end', () => enqueue(Math.max(performance.now(), linkFreeAt) + delayMs, () => to.writable && to.end()));
}

function splitHost(host: string): [string, number] {
  const url = new URL(`tcp://${host}`);
  return [url.hostname, Number(url.port)];
}
