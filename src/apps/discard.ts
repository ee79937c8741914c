/**
 * Discard (RFC 863): "Once a connection is established any data received is thrown away.
 * No response is sent. This continues until the calling user terminates the connection."
 * We read as fast as data arrives, so the window stays open; the peer's FIN ends our side.
 */
import type { TcpStack } from '../socket/net';
import { Service, startService } from './service';

/** RFC 863: the well-known port. */
export const DISCARD_PORT = 9;

export function startDiscard(net: TcpStack, port: number = DISCARD_PORT): Service {
  return startService(net, 'discard', port, {}, (socket) => {
    socket.on('error', () => undefined);
    socket.resume();
  });
}
