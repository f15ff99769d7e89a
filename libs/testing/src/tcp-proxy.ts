import { createServer, Server, Socket, connect } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy on loopback in front of a real service (PostgreSQL, Redis). `cut()` drops every
 * connection and refuses new ones, as if the service went away; `stall()` drops every
 * connection and takes new ones but passes nothing, as a service too busy to answer (clients
 * time out); `restore()` lets them through.
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  /** The client side of each connection let through that is still open. */
  private readonly passing = new Set<Socket>();
  private passed = 0;
  private open = true;
  private stalling = false;

  private constructor(private readonly server: Server) {}

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(server);
    server.on('connection', (client) => {
      if (!proxy.open) {
        client.destroy();
        return;
      }
      if (proxy.stalling) {
        proxy.sockets.add(client);
        client.on('close', () => proxy.sockets.delete(client));
        client.on('error', () => client.destroy());
        return;
      }
      const upstream = connect(targetPort, targetHost);
      proxy.passed += 1;
      proxy.passing.add(client);
      client.on('close', () => proxy.passing.delete(client));
      for (const socket of [client, upstream]) {
        proxy.sockets.add(socket);
        socket.on('close', () => proxy.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** How many connections it has let through to the service since it started. */
  get connectionsMade(): number {
    return this.passed;
  }

  /** How many connections it lets through now. */
  get connectionsOpen(): number {
    return this.passing.size;
  }

  /** The same URL with host and port replaced by the proxy's. */
  url(target: string): string {
    const url = new URL(target);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return url.toString();
  }

  cut(): void {
    this.open = false;
    for (const socket of this.sockets) socket.destroy();
  }

  stall(): void {
    this.stalling = true;
    for (const socket of this.sockets) socket.destroy();
  }

  restore(): void {
    if (this.stalling) for (const socket of this.sockets) socket.destroy();
    this.stalling = false;
    this.open = true;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
