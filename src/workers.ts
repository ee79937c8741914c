/**
 * `tuntcp up --workers N`: one stack per core, each on its own queue of one multi-queue
 * TUN device (IFF_MULTI_QUEUE).
 *
 * The kernel picks the queue for each packet it sends into the device by a hash of the
 * flow (tun_automq_select_queue: a symmetric 4-tuple hash, remembered per flow once a
 * queue has written a packet of it), so every segment of a connection reaches the same
 * queue, and so the same worker; workers share nothing and need no locks. The main
 * thread is worker 0: it creates and configures the device, then starts workers 1..N-1,
 * which attach their queues, build their own stack and services, and report ready. The
 * main thread answers `tuntcp stats` for all of them and stops them on SIGINT/SIGTERM.
 *
 * What is per worker: the connection table, the counters (merged by `tuntcp stats`), and
 * the HTTP site's status page, /connections and /metrics (each shows the worker that
 * served the request). A connection the stack opens itself stays with its worker only
 * while the kernel remembers the flow, so `tuntcp connect` runs single-queue.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ParsedFlags } from './cli-options';
import type { StatsReply } from './control/stats';

/** Messages from the main thread to a worker. */
export type ToWorker = { type: 'stats'; id: number } | { type: 'stop' };
/** Messages from a worker to the main thread. */
export type FromWorker =
  | { type: 'ready'; describe: string }
  | { type: 'stats'; id: number; reply: StatsReply }
  | { type: 'error'; message: string }
  | { type: 'stopped' };

/** What the worker thread is started with. */
export interface WorkerData {
  index: number;
  flags: ParsedFlags;
}

const WORKER_SCRIPT = path.join(__dirname, 'worker.js');
/** A worker that does not stop within this is terminated. */
const STOP_TIMEOUT_MS = 5000;

class WorkerHandle {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, (r: StatsReply) => void>();
  private readonly stopped: Promise<void>;
  private stopping = false;
  readonly ready: Promise<string>;

  constructor(readonly index: number, flags: ParsedFlags) {
    const data: WorkerData = { index, flags };
    const worker = new Worker(WORKER_SCRIPT, { workerData: data, stdout: false, stderr: false });
    this.worker = worker;
    let resolveReady!: (d: string) => void;
    let rejectReady!: (e: Error) => void;
    this.ready = new Promise((res, rej) => {
      resolveReady = res;
      rejectReady = rej;
    });
    this.stopped = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'ready') resolveReady(m.describe);
      else if (m.type === 'error') rejectReady(new Error(`worker ${index}: ${m.message}`));
      else if (m.type === 'stats') {
        this.pending.get(m.id)?.(m.reply);
        this.pending.delete(m.id);
      }
    });
    let ready = false;
    void this.ready.then(
      () => (ready = true),
      () => undefined,
    );
    worker.once('error', (e) => {
      rejectReady(new Error(`worker ${index}: ${e.message}`));
      if (ready) process.stderr.write(`tuntcp: worker ${index} failed: ${e.stack ?? e.message}\n`);
    });
    worker.once('exit', (code) => {
      rejectReady(new Error(`worker ${index} exited (code ${code}) before it was ready`));
      if (ready && !this.stopping) {
        // Its queue closed with its file descriptor: the kernel spreads its flows over the
        // other queues, whose workers answer them with RST (they hold no state for them).
        process.stderr.write(`tuntcp: worker ${index} exited (code ${code}); its connections are lost\n`);
      }
      for (const [, done] of this.pending) done(emptyReply());
      this.pending.clear();
    });
  }

  stats(): Promise<StatsReply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.worker.postMessage({ type: 'stats', id } satisfies ToWorker);
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.worker.postMessage({ type: 'stop' } satisfies ToWorker);
    const timer = setTimeout(() => void this.worker.terminate(), STOP_TIMEOUT_MS);
    await this.stopped;
    clearTimeout(timer);
  }
}

function emptyReply(): StatsReply {
  return { connections: [], counters: { drops: {} } as StatsReply['counters'], timeWait: 0 };
}

/** Workers 1..count-1 (the caller is worker 0). */
export class WorkerPool {
  private readonly workers: WorkerHandle[] = [];

  private constructor() {}

  /** Start the workers and wait until each has its queue, stack and services up. */
  static async start(count: number, flags: ParsedFlags): Promise<WorkerPool> {
    const pool = new WorkerPool();
    for (let i = 1; i < count; i++) pool.workers.push(new WorkerHandle(i, flags));
    try {
      await Promise.all(pool.workers.map((w) => w.ready));
    } catch (e) {
      await pool.stop();
      throw e;
    }
    return pool;
  }

  get size(): number {
    return this.workers.length;
  }

  /** Each worker's stats reply, in worker order. */
  stats(): Promise<StatsReply[]> {
    return Promise.all(this.workers.map((w) => w.stats()));
  }

  /** Ask every worker to close its services and stack, and wait for them to exit. */
  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
  }
}
