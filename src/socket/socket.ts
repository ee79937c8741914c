/**
 * A Node `net.Socket` work-alike over one tuntcp connection: a stream.Duplex whose
 * backpressure reaches the TCP windows in both directions.
 *
 * - Reading: `_read` pulls bytes out of the connection's receive buffer and pushes them
 *   until `push()` says stop. Unread bytes stay in the connection, so a reader that pauses
 *   shrinks the window we advertise and the peer stops sending (RFC 9293 §3.8.6.2.2).
 * - Writing: `_write`/`_writev` copy into the connection's send buffer and hold the
 *   callback until every byte has been taken, continuing on WRITABLE events (the peer's
 *   ACKs free room). The Writable's high-water mark then makes `write()` return false.
 * - `end()` is a half close (`shutdown`: FIN after the data); `destroy()` closes the
 *   connection (RST if received data was never read), `destroy(err)` and
 *   `resetAndDestroy()` abort it with RST.
 *
 * The TCP layer tells us about a connection's events during its flush; we drain them at
 * once (a connection whose events are never drained is never retired). After any user call
 * that changes the connection we mark it dirty and ask the stack for a turn.
 */
import { defineFlagFields } from '../tcp/packed-fields';
import { Duplex, DuplexOptions } from 'node:stream';
import type { Stack } from '../stack';
import { ConnEvent, Connection } from '../tcp/connection';
import type { ConnectionOwner, TcpLayer } from '../tcp/tcp-layer';
import { TcpState } from '../tcp/state';
import { ipv4ToString, parseIpv4 } from '../wire/ipv4';
import { NetError, badPort, invalidArgType, invalidArgValue, nodeError, systemError } from './errors';

/** What the socket layer needs from a running stack: the driver and its TCP layer. */
export interface NetContext {
  readonly stack: Stack;
  readonly tcp: TcpLayer;
}

export interface SocketOptions {
  /**
   * Keep our sending side open after the peer's FIN (as net.Socket's option). When false
   * (the default, as in Node) the socket ends its side once the peer's FIN has been read.
   */
  allowHalfOpen?: boolean;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
}

export interface ConnectOptions {
  /** IPv4 dotted quad (no DNS). */
  host: string;
  port: number | string;
  /** Bind the connection to this local port instead of an ephemeral one. */
  localPort?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  /** Idle timeout in ms, as socket.setTimeout(). */
  timeout?: number;
}

export type ReadyState = 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed';

/** Largest chunk taken from the receive buffer per push: the usual 64 KiB read size. */
const READ_CHUNK = 64 * 1024;

export class Socket extends Duplex implements ConnectionOwner {
  /** True from connect() until the handshake completes or fails (as net.Socket). */
  connecting = false;
  /** Bytes received and handed to the stream. */
  bytesRead = 0;
  /** The server that accepted this socket, if any (Node sets `socket.server` too). */
  server: unknown = null;

  private readonly ctx: NetContext;
  private conn: Connection | null = null;
  /** The flags declared below, as bits (tcp/packed-fields.ts): an idle socket weighs less. */
  private flagBits = 0;
  /** The connection reached CLOSED or TIME-WAIT: the layer retired it, never touch it again. */
  private declare connGone: boolean;
  /** Inside onConnectionEvents: the layer transmits for this connection right after. */
  private declare inEvents: boolean;
  /** The peer's FIN has arrived (in order). */
  private declare peerEnded: boolean;
  private declare eofPushed: boolean;
  /** The Readable asked for data and has not been told to stop. */
  private declare wantRead: boolean;
  /** Counts _read calls, to notice one made re-entrantly during push(). */
  private readCalls = 0;
  private declare pulling: boolean;
  private declare shutdownDone: boolean;
  private declare resetRequested: boolean;
  /** Bytes taken into the connection's send buffer. */
  private bytesAccepted = 0;
  // The write in progress: chunks, position, and the held callback.
  private pendingChunks: Buffer[] | null = null;
  private pendingIndex = 0;
  private pendingOffset = 0;
  private pendingCb: ((err?: Error | null) => void) | null = null;
  // Idle timeout (socket.setTimeout), a real unref'd timer in the socket layer.
  private idleMs = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  // Options set before the connection exists, applied when it does.
  private wantNoDelay: boolean | null = null;
  private wantKeepAlive: { enable: boolean; delay: number } | null = null;
  private readonly allowHalfOpenOpt: boolean;

  constructor(ctx: NetContext, opts: SocketOptions = {}) {
    const allowHalfOpen = opts.allowHalfOpen === true;
    const duplexOpts: DuplexOptions = {
      allowHalfOpen,
      // We emit 'close' ourselves, with net's hadError argument.
      emitClose: false,
      autoDestroy: true,
      decodeStrings: true,
    };
    if (opts.readableHighWaterMark !== undefined) duplexOpts.readableHighWaterMark = opts.readableHighWaterMark;
    if (opts.writableHighWaterMark !== undefined) duplexOpts.writableHighWaterMark = opts.writableHighWaterMark;
    super(duplexOpts);
    this.ctx = ctx;
    this.allowHalfOpenOpt = allowHalfOpen;
  }

  // ---------------------------------------------------------------------------------
  // Wiring to a connection

  /** The TCP connection under this socket (for status pages), or null before connect(). */
  get connection(): Connection | null {
    return this.conn;
  }

  /**
   * Active open (as net.Socket#connect): `connect(options[, cb])` or
   * `connect(port, host[, cb])`. Emits 'connect' and 'ready' once established.
   */
  connect(options: ConnectOptions, cb?: () => void): this;
  connect(port: number | string, host: string, cb?: () => void): this;
  connect(a: ConnectOptions | number | string, b?: string | (() => void), c?: () => void): this {
    const opts: ConnectOptions = typeof a === 'object' && a !== null ? a : { port: a, host: b as string };
    const cb = typeof b === 'function' ? b : c;
    if (typeof a !== 'object' && typeof a !== 'number' && typeof a !== 'string') throw invalidArgType('options', 'an object or a port number', a);
    const { addr, port } = validateConnectTarget(opts);
    if (this.conn !== null || this.connecting) throw nodeError('ERR_SOCKET_CONNECTION_IN_PROGRESS', 'Socket is already connecting or connected');
    if (this.destroyed) throw nodeError('ERR_SOCKET_CLOSED', 'Socket is closed');
    if (cb !== undefined) this.once('connect', cb);
    if (opts.timeout !== undefined) this.setTimeout(opts.timeout);
    if (opts.noDelay === true) this.setNoDelay(true);
    if (opts.keepAlive === true) this.setKeepAlive(true, opts.keepAliveInitialDelay ?? 0);
    this.connecting = true;
    let conn: Connection;
    try {
      conn = this.ctx.tcp.connect(addr, port, this, this.ctx.stack.clock(), opts.localPort);
    } catch (e) {
      // No free ephemeral port (EADDRNOTAVAIL) or a bad local port: fail like a connect error.
      process.nextTick(() => this.destroy(e as Error));
      return this;
    }
    this.attach(conn);
    this.ctx.stack.schedule();
    return this;
  }

  /**
   * @internal Take over an accepted connection (Server): `announce` emits 'connection';
   * then, as net does for a new server socket, reading starts unless `paused`
   * (pauseOnConnect), and the connection's pending events are drained.
   */
  _accept(conn: Connection, paused: boolean, announce: (socket: Socket) => void): void {
    this.attach(conn);
    conn.owner = this;
    const was = this.inEvents;
    this.inEvents = true;
    try {
      if (paused) this.pause();
      announce(this);
      if (!paused && !this.destroyed) this.read(0);
    } finally {
      this.inEvents = was;
    }
    this.onConnectionEvents(conn);
  }

  private attach(conn: Connection): void {
    this.conn = conn;
    if (this.wantNoDelay !== null) conn.noDelay = this.wantNoDelay;
    if (this.wantKeepAlive !== null) conn.setKeepAlive(this.wantKeepAlive.enable, this.wantKeepAlive.delay > 0 ? this.wantKeepAlive.delay : undefined, this.ctx.stack.clock());
    if (this.pendingCb !== null) this.flushWrites();
  }

  /** Mark the connection dirty and ask for a turn (after a user call changed it). */
  private kick(): void {
    const conn = this.conn;
    if (conn === null || this.connGone) return;
    // Inside event delivery the layer transmits for this connection right afterwards.
    // Touching it there would make the layer settle it twice in one flush, and a
    // connection that just reached TIME-WAIT would be retired twice.
    if (!this.inEvents) this.ctx.tcp.touch(conn);
    this.ctx.stack.schedule();
  }

  /** The connection is usable for user calls (not retired, not closed). */
  private get live(): boolean {
    const c = this.conn;
    return c !== null && !this.connGone && c.state !== TcpState.CLOSED && c.state !== TcpState.TIME_WAIT;
  }

  // ConnectionOwner: called by the TCP layer during its flush.
  onConnectionEvents(conn: Connection): void {
    const was = this.inEvents;
    this.inEvents = true;
    try {
      for (let e = conn.pollEvent(); e !== 0; e = conn.pollEvent()) {
        if (this.conn !== conn) continue;
        try {
          this.onEvent(e, conn);
        } catch (err) {
          // An exception from user code in an event handler must not unwind the stack's
          // flush; rethrow it on its own tick, where Node reports it as uncaught.
          process.nextTick(() => {
            throw err;
          });
        }
      }
    } finally {
      this.inEvents = was;
    }
  }

  private onEvent(e: number, conn: Connection): void {
    switch (e) {
      case ConnEvent.CONNECTED:
        if (!this.connecting) return;
        this.connecting = false;
        if (this.destroyed) return;
        this.refreshIdle();
        this.emit('connect');
        this.emit('ready');
        // As net's afterConnect: start reading (into the stream's buffer, up to its
        // high-water mark) unless the user paused the socket.
        if (!this.destroyed && !this.isPaused()) this.read(0);
        return;
      case ConnEvent.READABLE:
        if (this.destroyed) return;
        if (this.wantRead) this.pull();
        return;
      case ConnEvent.END:
        this.peerEnded = true;
        if (this.destroyed) return;
        if (this.wantRead) this.pull();
        return;
      case ConnEvent.WRITABLE:
        if (this.destroyed) return;
        if (this.pendingCb !== null) this.flushWrites();
        return;
      case ConnEvent.ERROR: {
        const code = conn.error ?? 'ECONNRESET';
        if (this.destroyed) return;
        const wasConnecting = this.connecting;
        this.connecting = false;
        const err = wasConnecting
          ? systemError(code, 'connect', ipv4ToString(conn.remoteAddr), conn.remotePort)
          : systemError(code, 'read');
        this.destroy(err);
        return;
      }
      case ConnEvent.CLOSED:
        this.connGone = true;
        this.connecting = false;
        if (this.destroyed) return;
        // Both FINs exchanged: the stream finishes on its own once the reader has drained
        // what is left (the connection object still holds it). Anything else means the
        // connection vanished under us (the stack is closing): destroy.
        if (!(this.peerEnded && this.shutdownDone)) this.destroy();
        return;
      default:
        return;
    }
  }

  // ---------------------------------------------------------------------------------
  // Readable side

  override _read(): void {
    this.wantRead = true;
    this.readCalls++;
    this.pull();
  }

  /** Move received bytes into the stream while it wants them; then the EOF. */
  private pull(): void {
    const conn = this.conn;
    if (conn === null || this.pulling) return;
    this.pulling = true;
    let took = false;
    try {
      while (this.wantRead && !this.destroyed) {
        const n = conn.readable;
        if (n === 0) {
          if (this.peerEnded && !this.eofPushed) {
            this.eofPushed = true;
            this.wantRead = false;
            this.push(null);
            // As net does after EOF: with nothing buffered this emits 'end' even when
            // nobody reads, so a socket that only writes still finishes and closes.
            this.read(0);
          }
          break;
        }
        const buf = conn.read(Math.min(n, READ_CHUNK));
        if (buf.length === 0) break;
        took = true;
        this.bytesRead += buf.length;
        const calls = this.readCalls;
        const more = this.push(buf);
        // push() said stop: leave the rest in the connection (its window closes) until the
        // next _read — unless _read was called again while push() ran.
        this.wantRead = more || this.readCalls !== calls;
      }
    } finally {
      this.pulling = false;
    }
    if (took) {
      this.refreshIdle();
      // Reading may reopen the receive window: let the connection announce it.
      this.kick();
    }
  }

  // ---------------------------------------------------------------------------------
  // Writable side

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.startWrite([chunk], cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>, cb: (err?: Error | null) => void): void {
    this.startWrite(
      chunks.map((c) => c.chunk),
      cb,
    );
  }

  private startWrite(chunks: Buffer[], cb: (err?: Error | null) => void): void {
    if (this.conn === null && !this.connecting) {
      cb(nodeError('ERR_SOCKET_CLOSED', 'Socket is closed'));
      return;
    }
    this.pendingChunks = chunks;
    this.pendingIndex = 0;
    this.pendingOffset = 0;
    this.pendingCb = cb;
    this.refreshIdle();
    if (this.conn !== null) this.flushWrites();
  }

  /** Copy as much of the pending write as fits; release its callback when all is taken. */
  private flushWrites(): void {
    const conn = this.conn;
    const chunks = this.pendingChunks;
    if (conn === null || chunks === null) return;
    if (!this.live) {
      const cb = this.pendingCb;
      this.clearPending();
      cb?.(systemError('EPIPE', 'write'));
      return;
    }
    let accepted = 0;
    while (this.pendingIndex < chunks.length) {
      const c = chunks[this.pendingIndex]!;
      const want = c.length - this.pendingOffset;
      const n = want > 0 ? conn.send(c, this.pendingOffset, want) : 0;
      accepted += n;
      this.pendingOffset += n;
      if (this.pendingOffset < c.length) break;
      this.pendingIndex++;
      this.pendingOffset = 0;
    }
    if (accepted > 0) {
      this.bytesAccepted += accepted;
      this.kick();
    }
    if (this.pendingIndex >= chunks.length) {
      const cb = this.pendingCb;
      this.clearPending();
      cb?.();
    }
  }

  private clearPending(): void {
    this.pendingChunks = null;
    this.pendingCb = null;
    this.pendingIndex = 0;
    this.pendingOffset = 0;
  }

  /**
   * After the peer's FIN with allowHalfOpen false, writing once our side has ended fails
   * with EPIPE, as net.Socket's writeAfterFIN does.
   */
  override write(chunk: unknown, encoding?: BufferEncoding | ((err?: Error | null) => void), cb?: (err?: Error | null) => void): boolean {
    if (!this.allowHalfOpenOpt && this.peerEnded && this.writableEnded) {
      const callback = typeof encoding === 'function' ? encoding : cb;
      const err = nodeError('EPIPE', 'This socket has been ended by the other party');
      if (callback !== undefined) process.nextTick(callback, err);
      this.destroy(err);
      return false;
    }
    return super.write(chunk, encoding as BufferEncoding, cb);
  }

  /** Half close: FIN after everything written (net.Socket's _final → shutdown). */
  override _final(cb: (err?: Error | null) => void): void {
    if (this.connecting) {
      // Closing the sending side of a connection still in SYN-SENT would delete it
      // (RFC 9293 §3.10.4): wait for the handshake, as net.Socket does.
      this.once('connect', () => this._final(cb));
      return;
    }
    const conn = this.conn;
    if (conn !== null && this.live) {
      conn.shutdown(this.ctx.stack.clock());
      this.kick();
    }
    this.shutdownDone = true;
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.clearIdle();
    const conn = this.conn;
    if (conn !== null && this.live) {
      const now = this.ctx.stack.clock();
      if (err !== null || this.resetRequested) conn.abort(now);
      else conn.close(now);
      this.kick();
    }
    this.connecting = false;
    const pending = this.pendingCb;
    this.clearPending();
    cb(err);
    if (pending !== null) pending(err ?? nodeError('ERR_STREAM_DESTROYED', 'Cannot call write after a stream was destroyed'));
    // Like net, whose 'close' waits for the handle's close callback: a later turn of the
    // event loop, after 'error' and 'end' and their promise continuations.
    setImmediate(() => this.emit('close', err !== null));
  }

  /** End our side, then destroy once everything is written (used by Node's http). */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  /** Close with RST (net.Socket#resetAndDestroy). */
  resetAndDestroy(): this {
    this.resetRequested = true;
    return this.destroy();
  }

  // ---------------------------------------------------------------------------------
  // Options

  /** Nagle's algorithm off (true, the default argument) or on (RFC 1122 §4.2.3.4). */
  setNoDelay(noDelay = true): this {
    const on = noDelay !== false;
    this.wantNoDelay = on;
    if (this.conn !== null && this.live && this.conn.noDelay !== on) {
      this.conn.noDelay = on;
      // Segments Nagle was holding may go now.
      this.kick();
    }
    return this;
  }

  /** Keepalive probes (RFC 1122 §4.2.3.6); `initialDelay` ms of idleness first, 0 = the default. */
  setKeepAlive(enable = false, initialDelay = 0): this {
    const delay = Number.isFinite(initialDelay) && initialDelay > 0 ? Math.floor(initialDelay) : 0;
    this.wantKeepAlive = { enable: !!enable, delay };
    if (this.conn !== null && this.live) {
      this.conn.setKeepAlive(!!enable, delay > 0 ? delay : undefined, this.ctx.stack.clock());
      this.kick();
    }
    return this;
  }

  /**
   * Emit 'timeout' after `ms` of inactivity (nothing read or written); 0 disables. As in
   * net, the socket is not closed: the listener decides.
   */
  setTimeout(ms: number, cb?: () => void): this {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw invalidArgValue('msecs', ms, 'must be a non-negative finite number');
    if (cb !== undefined && typeof cb !== 'function') throw invalidArgType('callback', 'of type function', cb);
    this.clearIdle();
    this.idleMs = ms;
    if (ms === 0) {
      if (cb !== undefined) this.removeListener('timeout', cb);
      return this;
    }
    if (!this.destroyed) {
      this.idleTimer = setTimeout(onIdle, ms, this);
      this.idleTimer.unref();
    }
    if (cb !== undefined) this.once('timeout', cb);
    return this;
  }

  /** The idle timeout in ms (undefined when none), as net.Socket#timeout. */
  get timeout(): number | undefined {
    return this.idleMs > 0 ? this.idleMs : undefined;
  }

  /** @internal The idle timer fired (`onIdle` below). */
  _idle(): void {
    if (this.destroyed) return;
    this.emit('timeout');
  }

  private refreshIdle(): void {
    // refresh() re-arms the timer even after it fired: activity restarts the countdown.
    if (this.idleTimer !== null) this.idleTimer.refresh();
  }

  private clearIdle(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  /** No-ops: the stack's link, not a socket, keeps the process alive. */
  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  // ---------------------------------------------------------------------------------
  // Properties as net.Socket has them

  get bytesWritten(): number {
    // Accepted by the connection, plus what is still waiting in the stream.
    return this.bytesAccepted + this.unacceptedBytes();
  }

  private unacceptedBytes(): number {
    let n = 0;
    const chunks = this.pendingChunks;
    if (chunks !== null) {
      for (let i = this.pendingIndex; i < chunks.length; i++) n += chunks[i]!.length;
      n -= this.pendingOffset;
    }
    // writableLength counts the chunk in progress too; take it out so it is not counted twice.
    const inProgress = chunks === null ? 0 : chunks.reduce((s, c) => s + c.length, 0);
    return n + Math.max(0, this.writableLength - inProgress);
  }

  get remoteAddress(): string | undefined {
    return this.conn === null ? undefined : ipv4ToString(this.conn.remoteAddr);
  }

  get remotePort(): number | undefined {
    return this.conn?.remotePort;
  }

  get remoteFamily(): string | undefined {
    return this.conn === null ? undefined : 'IPv4';
  }

  get localAddress(): string | undefined {
    return this.conn === null ? undefined : ipv4ToString(this.conn.localAddr);
  }

  get localPort(): number | undefined {
    return this.conn?.localPort;
  }

  get localFamily(): string | undefined {
    return this.conn === null ? undefined : 'IPv4';
  }

  /** True until connected, and again once destroyed (as net: no handle). */
  get pending(): boolean {
    return this.conn === null || this.connecting || this.destroyed;
  }

  get readyState(): ReadyState {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable && !this.writable) return 'readOnly';
    if (!this.readable && this.writable) return 'writeOnly';
    return 'closed';
  }

  address(): { address: string; family: string; port: number } | Record<string, never> {
    const c = this.conn;
    if (c === null) return {};
    return { address: ipv4ToString(c.localAddr), family: 'IPv4', port: c.localPort };
  }
}

/** Check a connect target: an IPv4 dotted quad and a port 1-65535 (numbers or numeric strings). */
export function validateConnectTarget(opts: ConnectOptions): { addr: number; port: number; host: string } {
  if (typeof opts !== 'object' || opts === null) throw invalidArgType('options', 'of type object', opts);
  const host = opts.host;
  if (typeof host !== 'string') throw invalidArgValue('options.host', host, 'must be an IPv4 address in dotted-quad form such as 10.77.0.1 (tuntcp does no DNS)');
  const addr = parseIpv4(host);
  if (addr === null) throw invalidArgValue('options.host', host, 'must be an IPv4 address in dotted-quad form such as 10.77.0.1 (tuntcp does no DNS)');
  const port = toPort(opts.port, 'options.port', false);
  return { addr, port, host };
}

/** A port number from a number or a decimal string; RangeError ERR_SOCKET_BAD_PORT otherwise. */
export function toPort(v: unknown, name: string, allowZero: boolean): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^\s*\d+\s*$/.test(v)) n = Number(v);
  else throw badPort(name, v, allowZero);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1) || n > 65535) throw badPort(name, v, allowZero);
  return n;
}

export type { NetError };

/** The idle timer's callback, shared by every socket (no closure per socket). */
function onIdle(socket: Socket): void {
  socket._idle();
}

defineFlagFields(Socket.prototype, [
  'connGone',
  'inEvents',
  'peerEnded',
  'eofPushed',
  'wantRead',
  'pulling',
  'shutdownDone',
  'resetRequested'
]);
