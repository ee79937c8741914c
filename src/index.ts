/**
 * tuntcp as a library.
 *
 *     import { createStack } from 'tuntcp';
 *     const stack = createStack({ addr: '10.77.0.2' });       // creates tuntcp0
 *     http.createServer(handler).emit('connection', socket)  // or use stack.createServer
 */
export { createStack, TuntcpStack, ConfigError } from './create-stack';
export type { CreateStackOptions } from './create-stack';
export { Socket } from './socket/socket';
export type { SocketOptions, ConnectOptions } from './socket/socket';
export { Server } from './socket/server';
export type { ServerOptions, AddressInfo } from './socket/server';
export { TcpStack } from './socket/net';
export { MemoryLink } from './link/memory-link';
export type { Link, LinkReceiver } from './link/link';
export { Counters, DropReason } from './counters';
export { TcpState } from './tcp/state';
export type { TcpConfig } from './tcp/config';
export { startServices } from './apps';
