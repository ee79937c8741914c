/** The Node `net`-style API over tuntcp's TCP. */
export { Socket, validateConnectTarget, toPort } from './socket';
export type { ConnectOptions, NetContext, ReadyState, SocketOptions } from './socket';
export { Server } from './server';
export type { AddressInfo, ListenOptions, ServerOptions } from './server';
export { TcpStack, connect, createConnection, createServer } from './net';
export type { ConnectionListener } from './net';
export { createMemoryPair } from './memory-pair';
export type { MemoryPair, MemoryPairOptions } from './memory-pair';
export { systemError } from './errors';
export type { NetError } from './errors';
