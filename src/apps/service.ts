/**
 * What every tuntcp service has in common: a Server on one port, the sockets it accepted,
 * and a close() that stops listening, closes those sockets and resolves once they are gone.
 */
import type { TcpStack } from '../socket/net';
import type { Server, ServerOptions } from '../socket/server';
import type { Socket } from '../socket/socket';

export interface Service {
  readonly name: string;
  readonly server: Server;
  /** Resolves once listening; rejects with the listen error (EADDRINUSE). */
  readonly listening: Promise<void>;
  /** The port listened on (known once listening; the requested one before). */
  readonly port: number;
  /** Live sockets. */
  readonly connections: number;
  /** Stop listening, close every live connection, resolve when all have closed. */
  close(): Promise<void>;
}

export function startService(net: TcpStack, name: string, port: number, opts: ServerOptions, onConnection: (socket: Socket) => void): Service {
  const sockets = new Set<Socket>();
  // Shared by every socket of this service: no closure per connection.
  const untrack = function (this: Socket): void {
    sockets.delete(this);
  };
  const server = net.createServer(opts, (socket) => {
    sockets.add(socket);
    socket.on('close', untrack);
    onConnection(socket);
  });
  const listening = new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      reject(Object.assign(err, { message: `${name}: ${err.message}` }));
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
  });
  // Callers may await `listening`; an unawaited failure must not crash the process.
  listening.catch(() => undefined);
  server.listen(port);
  let closing: Promise<void> | null = null;
  return {
    name,
    server,
    listening,
    get port(): number {
      return server.address()?.port ?? port;
    },
    get connections(): number {
      return sockets.size;
    },
    close(): Promise<void> {
      if (closing !== null) return closing;
      closing = new Promise<void>((resolve) => {
        if (!server.listening && sockets.size === 0) {
          resolve();
          return;
        }
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}
