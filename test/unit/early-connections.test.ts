import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { EarlyConnections } from '../../src/registry/early-connections.js';

/** TCP connections opened before they are asked for, handed out once, and closed when nothing took them. */
describe('EarlyConnections', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  });

  /** A server that notes each connection it accepts and when that connection closes. */
  async function listening() {
    const sockets: Socket[] = [];
    const closed: Promise<void>[] = [];
    const server = createServer((socket) => {
      sockets.push(socket);
      closed.push(new Promise((resolve) => socket.on('close', () => resolve())));
      socket.on('error', () => undefined);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { port: String((server.address() as AddressInfo).port), sockets, closed };
  }

  test('a connection opened early is handed out once, connected, to its host and port', async () => {
    const server = await listening();
    const early = new EarlyConnections();
    early.open(`https://127.0.0.1:${server.port}`);
    const socket = await early.take('127.0.0.1', server.port, 5_000);
    expect(socket?.connecting).toBe(false);
    expect(socket?.remotePort).toBe(Number(server.port));
    expect(await early.take('127.0.0.1', server.port, 5_000)).toBeUndefined();
    expect(await early.take('127.0.0.1', '1', 5_000)).toBeUndefined(); // nothing was opened there
    expect(server.sockets).toHaveLength(1);
    socket!.destroy();
  });

  test('one that failed to connect is not handed out: the caller connects for itself and meets the failure', async () => {
    const server = await listening();
    servers.pop()!.close(); // the port refuses connections from now on
    const early = new EarlyConnections();
    early.open(`https://127.0.0.1:${server.port}`);
    expect(await early.take('127.0.0.1', server.port, 5_000)).toBeUndefined();
  });

  test('one host and port gets one connection, and what no connection took is closed at the end', async () => {
    const server = await listening();
    const early = new EarlyConnections();
    early.open(`https://127.0.0.1:${server.port}`);
    early.open(`https://127.0.0.1:${server.port}`); // once per host and port
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.sockets).toHaveLength(1);
    early.close();
    await server.closed[0];
    expect(await early.take('127.0.0.1', server.port, 5_000)).toBeUndefined();
  });
});
