/**
 * A listening port (RFC 9293 §3.10.7.2) with the two bounded queues of a BSD listen
 * backlog (RFC 4987 §3.1 describes why both are bounded): connections still in
 * SYN-RECEIVED (the SYN queue) and established connections the application has not yet
 * taken (the accept queue).
 */
import type { Connection } from './connection';

export interface ListenerOwner {
  /** Established connections are waiting in `listener.acceptQueue`. */
  onAcceptable(listener: Listener): void;
}

export class Listener {
  /** Connections in SYN-RECEIVED opened from this listener. */
  synReceived = 0;
  readonly acceptQueue: Connection[] = [];
  closed = false;

  constructor(
    readonly port: number,
    readonly owner: ListenerOwner,
    /** Accept-queue bound: Node's default backlog is 511. */
    readonly backlog = 511,
    /** SYN-queue bound: 1024, the smallest default of Linux's tcp_max_syn_backlog. */
    readonly synBacklog = 1024,
  ) {}

  /** Take the next established connection, or null. */
  accept(): Connection | null {
    return this.acceptQueue.shift() ?? null;
  }
}
