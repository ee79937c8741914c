/**
 * The `net`-style entry points, bound to one stack: `createServer`, `connect` /
 * `createConnection`. Code written for Node's `net` ports by swapping the module for a
 * TcpStack (hosts are IPv4 dotted quads: there is no DNS).
 */
import { randomBytes } from 'node:crypto';
import type { Stack } from '../stack';
import { IsnGenerator } from '../tcp/isn';
import { TcpLayer, TcpLayerOptions } from '../tcp/tcp-layer';
import { ipv4ToString } from '../wire/ipv4';
import { invalidArgType } from './errors';
import { Server, ServerOptions } from './server';
import { ConnectOptions, NetContext, Socket, SocketOptions } from './socket';

export type ConnectionListener = (socket: Socket) => void;

export class TcpStack implements NetContext {
  constructor(
    readonly stack: Stack,
    readonly tcp: TcpLayer,
  ) {}

  /**
   * Add a TCP layer to `stack` (with a fresh random ISN secret unless one is given) and
   * bind the net API to it.
   */
  static attach(stack: Stack, opts: Partial<TcpLayerOptions> = {}): TcpStack {
    const tcp = new TcpLayer(stack.ip, stack.counters, { ...opts, isn: opts.isn ?? new IsnGenerator(randomBytes(16)) });
    stack.addTransport(tcp);
    return new TcpStack(stack, tcp);
  }

  /** The stack's own address, dotted quad. */
  get address(): string {
    return ipv4ToString(this.tcp.address);
  }

  /** As net.createServer([options][, connectionListener]). */
  createServer(listener?: ConnectionListener): Server;
  createServer(options: ServerOptions, listener?: ConnectionListener): Server;
  createServer(a?: ServerOptions | ConnectionListener, b?: ConnectionListener): Server {
    return createServer(this, a as ServerOptions, b);
  }

  /** As net.connect(options[, cb]) or net.connect(port, host[, cb]). */
  connect(options: ConnectOptions & SocketOptions, cb?: () => void): Socket;
  connect(port: number | string, host: string, cb?: () => void): Socket;
  connect(a: (ConnectOptions & SocketOptions) | number | string, b?: string | (() => void), c?: () => void): Socket {
    return (connect as (ctx: NetContext, ...args: unknown[]) => Socket)(this, a, b, c);
  }

  /** Alias of connect(), as in net. */
  createConnection(options: ConnectOptions & SocketOptions, cb?: () => void): Socket;
  createConnection(port: number | string, host: string, cb?: () => void): Socket;
  createConnection(a: (ConnectOptions & SocketOptions) | number | string, b?: string | (() => void), c?: () => void): Socket {
    return (connect as (ctx: NetContext, ...args: unknown[]) => Socket)(this, a, b, c);
  }

  /** An unconnected socket (call its connect()). */
  socket(options?: SocketOptions): Socket {
    return new Socket(this, options);
  }
}

/** net.createServer over `ctx`. */
export function createServer(ctx: NetContext, options?: ServerOptions | ConnectionListener, listener?: ConnectionListener): Server {
  if (typeof options === 'function') return new Server(ctx, {}, options);
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw invalidArgType('options', 'of type object', options);
  if (listener !== undefined && typeof listener !== 'function') throw invalidArgType('connectionListener', 'of type function', listener);
  return new Server(ctx, options ?? {}, listener);
}

/**
 * net.connect over `ctx`: `connect(ctx, { host, port }[, cb])` or `connect(ctx, port, host[, cb])`.
 * Invalid input throws synchronously: a TypeError (ERR_INVALID_ARG_VALUE) for a host that
 * is not a dotted quad, a RangeError (ERR_SOCKET_BAD_PORT) for a bad port.
 */
export function connect(ctx: NetContext, options: ConnectOptions & SocketOptions, cb?: () => void): Socket;
export function connect(ctx: NetContext, port: number | string, host: string, cb?: () => void): Socket;
export function connect(ctx: NetContext, a: (ConnectOptions & SocketOptions) | number | string, b?: string | (() => void), c?: () => void): Socket {
  let opts: ConnectOptions & SocketOptions;
  let cb: (() => void) | undefined;
  if (typeof a === 'object' && a !== null) {
    opts = a;
    cb = typeof b === 'function' ? b : undefined;
  } else if (typeof a === 'number' || typeof a === 'string') {
    opts = { port: a, host: b as string };
    cb = c;
  } else {
    throw invalidArgType('options', 'an object or a port number', a);
  }
  if (cb !== undefined && typeof cb !== 'function') throw invalidArgType('connectListener', 'of type function', cb);
  const sockOpts: SocketOptions = {};
  if (opts.allowHalfOpen !== undefined) sockOpts.allowHalfOpen = opts.allowHalfOpen;
  if (opts.readableHighWaterMark !== undefined) sockOpts.readableHighWaterMark = opts.readableHighWaterMark;
  if (opts.writableHighWaterMark !== undefined) sockOpts.writableHighWaterMark = opts.writableHighWaterMark;
  const sock = new Socket(ctx, sockOpts);
  return sock.connect(opts, cb);
}

export const createConnection = connect;
