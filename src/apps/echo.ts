/**
 * Echo (RFC 862): "Once a connection is established any data received is sent back. This
 * continues until the calling user terminates the connection." Backpressure: when the
 * peer stops reading our replies (write() says stop), we stop reading its data until
 * 'drain', and its window closes. A half close is honoured: everything received is
 * echoed, then our FIN. (What pipe() does, with three listeners instead of pipe's ten
 * closures per connection: an idle echo connection is mostly this.)
 */
import type { Duplex } from 'node:stream';
import type { TcpStack } from '../socket/net';
import { Service, startService } from './service';

/** RFC 862: the well-known port. */
export const ECHO_PORT = 7;

export function startEcho(net: TcpStack, port: number = ECHO_PORT): Service {
  return startService(net, 'echo', port, { allowHalfOpen: true }, (socket) => {
    // A reset from the peer is the end of the session, not a failure of the service.
    socket.on('error', ignore);
    socket.on('data', echoBack);
    socket.on('drain', resume);
    socket.on('end', endToo);
  });
}

// Shared listeners (`this` is the socket): no closure per connection.
function ignore(): void {}
function echoBack(this: Duplex, chunk: Buffer): void {
  if (!this.write(chunk)) this.pause();
}
function resume(this: Duplex): void {
  this.resume();
}
function endToo(this: Duplex): void {
  this.end();
}
