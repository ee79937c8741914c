/**
 * Echo (RFC 862): "Once a connection is established any data received is sent back. This
 * continues until the calling user terminates the connection." Backpressure comes from
 * pipe(): when the peer stops reading our replies, we stop reading its data, and its
 * window closes. A half close is honoured: everything received is echoed, then our FIN.
 */
import type { TcpStack } from '../socket/net';
import { Service, startService } from './service';

/** RFC 862: the well-known port. */
export const ECHO_PORT = 7;

export function startEcho(net: TcpStack, port: number = ECHO_PORT): Service {
  return startService(net, 'echo', port, { allowHalfOpen: true }, (socket) => {
    // A reset from the peer is the end of the session, not a failure of the service.
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
}
