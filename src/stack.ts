/**
 * The stack: one address on one link, with IPv4, ICMP and (once registered) TCP.
 *
 * This is the driver around the sans-I/O layers. It owns the only clock read and the
 * only timer: for each batch of packets from the link it reads the clock once, feeds
 * every packet through IP input, lets the transports flush what the batch produced
 * (one ACK per connection per batch), writes the whole batch of replies in one call,
 * and arms a single timer for the earliest deadline any layer reports.
 */
import { Counters } from './counters';
import { IpLayer, IpLayerOptions } from './ip/ip-layer';
import { Link, LinkReceiver } from './link/link';

/** Milliseconds; monotonic within a process. Fractional values are fine. */
export type Clock = () => number;

/** The wall clock with sub-millisecond precision, monotonic within the process. */
export const systemClock: Clock = () => performance.timeOrigin + performance.now();

/** A layer above IP that has work at the end of a batch and deadlines of its own. */
export interface Transport {
  /** Send whatever the last batch of input (or a user call) produced. */
  flush(now: number): void;
  /** Run expired timers. */
  poll(now: number): void;
  /** The earliest deadline, or Infinity. */
  nextDeadline(): number;
  /** Release everything (the stack is closing). */
  close(now: number): void;
}

export interface StackOptions extends IpLayerOptions {
  clock?: Clock;
}

export class Stack implements LinkReceiver {
  readonly counters = new Counters();
  readonly ip: IpLayer;
  readonly clock: Clock;
  private readonly transports: Transport[] = [];
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private turnScheduled = false;
  private batchNow = 0;
  private inBatch = false;
  private closed = false;

  constructor(readonly link: Link, opts: StackOptions) {
    this.clock = opts.clock ?? systemClock;
    this.ip = new IpLayer(link, this.counters, opts);
  }

  addTransport(t: Transport): void {
    this.transports.push(t);
  }

  start(): void {
    this.link.start(this);
  }

  // LinkReceiver: one call per packet, then one at the end of the batch.
  receive(buf: Buffer, off: number, len: number, flags: number): void {
    if (!this.inBatch) {
      this.inBatch = true;
      this.batchNow = this.clock();
    }
    this.ip.input(buf, off, len, this.batchNow, flags);
  }

  endOfBatch(): void {
    const now = this.inBatch ? this.batchNow : this.clock();
    this.inBatch = false;
    this.turn(now);
  }

  /**
   * Finish a turn of the event loop: flush what the transports have to send, write the
   * batch, and re-arm the timer. Called after a batch of input and after user calls.
   */
  turn(now = this.clock()): void {
    if (this.closed) return;
    for (const t of this.transports) t.flush(now);
    this.link.flush();
    this.arm();
  }

  /**
   * Ask for a turn soon (after a user call such as a write): several calls in the same
   * tick share one turn, so a response written in pieces leaves in as few segments as
   * the window allows.
   */
  schedule(): void {
    if (this.turnScheduled || this.closed) return;
    this.turnScheduled = true;
    queueMicrotask(this.scheduledTurn);
  }

  private readonly scheduledTurn = (): void => {
    this.turnScheduled = false;
    this.turn();
  };

  /**
   * Arm the one timer for the earliest deadline. A timer already set for an earlier (or
   * the same) moment stays: it fires, finds little or nothing due, and arms again. So the
   * common case — a retransmission deadline pushed later by every ACK — costs no timer
   * churn at all.
   */
  private arm(): void {
    let next = this.ip.nextDeadline();
    for (const t of this.transports) {
      const d = t.nextDeadline();
      if (d < next) next = d;
    }
    if (next >= this.timerAt) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAt = next;
    const delay = Math.max(0, Math.ceil(next - this.clock()));
    this.timer = setTimeout(this.onTimer, delay);
    // Deadlines alone do not keep the process alive; the link and the sockets do.
    this.timer.unref();
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    const now = this.clock();
    this.ip.poll(now);
    for (const t of this.transports) t.poll(now);
    this.turn(now);
  };

  /** Close every transport, flush their last segments, and release the link. */
  close(): void {
    if (this.closed) return;
    const now = this.clock();
    for (const t of this.transports) t.close(now);
    for (const t of this.transports) t.flush(now);
    this.link.flush();
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.link.close();
  }
}
