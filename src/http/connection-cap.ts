// A cap on the connections one client address holds open (--max_connections_per_ip): idle keep-alive
// sockets, streams and half-sent requests each cost a file descriptor and memory, and one address must
// not be able to take them all. Over the cap a new connection is destroyed at once, before TLS or HTTP
// cost anything. Proxies we trust carry everyone's connections, so they are not counted, and neither
// is this host's own address: a local proxy that --trust_proxy forgot to name would otherwise shut out
// every client at once, and local tools (benchmarks, tests) hold many streams. Other 127/8 addresses
// are counted like any client.
import type { Server, Socket } from 'node:net';

const THIS_HOST = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

export function capConnectionsPerAddress(server: Server, max: number, exempt: (address: string) => boolean): void {
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    if (address === undefined || THIS_HOST.has(address) || exempt(address)) return;
    const count = (open.get(address) ?? 0) + 1;
    if (count > max) {
      socket.destroy();
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left === 0) open.delete(address);
      else open.set(address, left);
    });
  });
}
