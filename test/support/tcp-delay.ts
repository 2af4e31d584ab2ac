import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/**
 * A TCP relay that puts a link's round-trip time between a client and a server, for the far-registry benchmarks:
 * every byte waits half the RTT in each direction, and a new connection waits one RTT before its first byte goes
 * through, as a TCP handshake would make it wait. So a TLS handshake pays its round trips, and a client that opens
 * many connections pays for each, which a proxy that delays whole requests hides.
 */
export interface TcpDelayRelay {
  /** `127.0.0.1:port`, to use in place of the server's address. */
  readonly host: string;
  stop(): Promise<void>;
}

export async function startTcpDelayRelay(target: string, rttMs: number): Promise<TcpDelayRelay> {
  const [targetHost, targetPort] = splitHost(target);
  const oneWay = rttMs / 2;
  const open = new Set<Socket>();
  const server = createServer((client) => {
    open.add(client);
    client.pause();
    const upstream = connect(targetPort, targetHost);
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
      delayed(upstream, client, oneWay);
      client.resume();
    }, rttMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () =>
      new Promise((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Forwards what `from` sends to `to`, each chunk `delayMs` later, in order; its end too. */
function delayed(from: Socket, to: Socket, delayMs: number): void {
  from.on('data', (chunk: Buffer) => setTimeout(() => to.writable && to.write(chunk), delayMs));
  from.on('end', () => setTimeout(() => to.writable && to.end(), delayMs));
}

function splitHost(host: string): [string, number] {
  const url = new URL(`tcp://${host}`);
  return [url.hostname, Number(url.port)];
}
