/**
 * The measurements, one function per phase. Each runs every repetition on both sides in
 * turn (tuntcp, kernel, tuntcp, kernel, ...), so slow drift on the machine hits both
 * alike, and records the median of the repetitions.
 */
import { closeSync, ftruncateSync, openSync } from 'node:fs';
import * as path from 'node:path';
import { sleep, waitFor } from './children';
import { type Transfer, closeAll, curlDownload, curlUpload, discardStream, echoRoundTrips, openIdle, wrk } from './clients';
import { BENCH_PORTS, SIDES, TUNTCP_SIDE, type Side, type TuntcpVariant } from './protocol';
import { percentile } from './report';
import { type ServerProcess, tunTxDropped } from './servers';

const MiB = 1024 * 1024;
const GB = 1e9;

/** Bulk transfers: probes (which also warm up) size each side's transfer to last about this long. */
export const TARGET_S: Readonly<Record<Side['name'], number>> = { tuntcp: 3, kernel: 2 };
/** The first probe's size; later probes grow until one lasts PROBE_MIN_S, at most PROBE_TRIES in all. */
const PROBE_BYTES = 16 * MiB;
const PROBE_MIN_S = 0.5;
const PROBE_TRIES = 4;
/** Below the site's own MAX_BYTES (10 GiB); bounds a transfer on a very fast machine. */
const MAX_BYTES = 8 * 1024 * MiB;
/** The offload phase's transfers last about this long (tuntcp only; the kernel figure is bulk's). */
export const OFFLOAD_TARGET_S = 2;
/** wrk's run length, seconds (issue 6: wrk -t2 -c32). */
export const WRK_S = 5;
/** The workers phase: wrk's run length, after an unrecorded warm-up of WRK_WARMUP_S. */
export const WORKERS_WRK_S = 3;
const WRK_WARMUP_S = 1;
/** Worker threads in the workers phase (the rows' `_2workers`). */
export const WORKERS = 2;
/** A small fixed response for the request-rate rows: the site's handler, no stack-state page. */
export const RATE_PATH = '/bytes/64';
export const ECHO_COUNT = 10_000;
const ECHO_WARMUP = 1000;
export const ECHO_SIZE = 64;
export const IDLE_TARGET = 10_000;
/** Handshakes in flight while opening idle connections (both listeners' backlog is 511), and closes in flight while closing them. */
const IDLE_IN_FLIGHT = 128;

export type PerSide<T> = Record<Side['name'], T>;

export interface BenchContext {
  readonly runs: number;
  /** A scratch directory (tmpfs when there is one), removed at the end. */
  readonly tmpDir: string;
  /** The long-running server of each side (for every phase but scale). */
  readonly servers: PerSide<ServerProcess>;
  /**
   * A fresh server of `side` (scale starts one per run; offload and workers a tuntcp
   * variant); stopServer when done with it. The ladder setting is the run's.
   */
  startServer(side: Side, variant?: Partial<Omit<TuntcpVariant, 'ladder'>>): Promise<ServerProcess>;
  stopServer(s: ServerProcess): Promise<void>;
  /** Record the median of a metric's repetitions for one side. */
  record(metric: string, side: Side['name'], samples: readonly number[]): void;
  note(text: string): void;
  log(text: string): void;
}

function samples(): PerSide<number[]> {
  return { tuntcp: [], kernel: [] };
}

function recordAll(ctx: BenchContext, metric: string, xs: PerSide<number[]>): void {
  for (const side of SIDES) ctx.record(metric, side.name, xs[side.name]);
}

/**
 * Wait until both long-running servers are idle (under 2% of a core over 250 ms), so
 * that work queued by one phase (the status page renders slowly) does not share the
 * machine with the next; bounded at 15 s, with a note if a server stays busy.
 */
async function quiesce(ctx: BenchContext): Promise<void> {
  for (const side of SIDES) {
    const s = ctx.servers[side.name];
    let prev = (await s.stats()).cpuUs;
    const idle = await waitFor(
      async () => {
        await sleep(250);
        const now = (await s.stats()).cpuUs;
        const busy = now - prev;
        prev = now;
        return busy < 5000;
      },
      15_000,
      0,
    );
    if (!idle) ctx.note(`The ${side.name} server was still busy 15 s after the previous phase.`);
  }
}

/** Round a byte count down to whole 64 KiB chunks, within [4 MiB, MAX_BYTES]. */
function sized(MBps: number, seconds: number): number {
  const n = Math.floor((MBps * 1e6 * seconds) / 65536) * 65536;
  return Math.min(MAX_BYTES, Math.max(4 * MiB, n));
}

/**
 * A transfer's throughput, for sizing the measured ones: PROBE_BYTES first, then larger
 * transfers until one lasts PROBE_MIN_S. A probe that short is mostly slow start, and on
 * a fast path underestimates the rate several times over (and the measured transfers
 * then last a fraction of their target).
 */
async function probe(f: (n: number) => Promise<Transfer>): Promise<number> {
  let n = PROBE_BYTES;
  let t = await f(n);
  for (let i = 1; i < PROBE_TRIES && t.seconds < PROBE_MIN_S && n < MAX_BYTES; i++) {
    n = Math.min(MAX_BYTES, Math.max(4 * n, sized(t.MBps, PROBE_MIN_S)));
    t = await f(n);
  }
  return t.MBps;
}

/** A file of `n` zero bytes that occupies no memory or disk (reads of a hole are free on tmpfs). */
function sparseFile(file: string, n: number): void {
  const fd = openSync(file, 'w');
  try {
    ftruncateSync(fd, n);
  } finally {
    closeSync(fd);
  }
}

/**
 * download_MBps, upload_MBps and cpu_s_per_GB: curl GET /bytes/N and PUT /upload, with
 * the server's CPU time (process.cpuUsage, reported over IPC) read around each transfer.
 */
export async function bulk(ctx: BenchContext): Promise<void> {
  await quiesce(ctx);
  const cpuUs = { tuntcp: new Array<number>(ctx.runs).fill(0), kernel: new Array<number>(ctx.runs).fill(0) };
  const bytes = { tuntcp: new Array<number>(ctx.runs).fill(0), kernel: new Array<number>(ctx.runs).fill(0) };
  let tunDrops = 0;
  const timed = async (side: Side, r: number, f: () => Promise<{ bytes: number; MBps: number }>): Promise<number> => {
    const server = ctx.servers[side.name];
    const before = await server.stats();
    const dropsBefore = side.name === 'tuntcp' ? tunTxDropped() : null;
    const t = await f();
    const dropsAfter = side.name === 'tuntcp' ? tunTxDropped() : null;
    if (dropsBefore !== null && dropsAfter !== null) tunDrops += dropsAfter - dropsBefore;
    const after = await server.stats();
    cpuUs[side.name][r] = (cpuUs[side.name][r] ?? 0) + after.cpuUs - before.cpuUs;
    bytes[side.name][r] = (bytes[side.name][r] ?? 0) + t.bytes;
    return t.MBps;
  };

  const dlSize = { tuntcp: 0, kernel: 0 };
  for (const side of SIDES) dlSize[side.name] = sized(await probe((n) => curlDownload(side.serverAddr, n, 30)), TARGET_S[side.name]);
  ctx.log(`download: curl GET /bytes/N, N = ${dlSize.tuntcp} (tuntcp), ${dlSize.kernel} (kernel)`);
  const down = samples();
  for (let r = 0; r < ctx.runs; r++) {
    for (const side of SIDES) down[side.name].push(await timed(side, r, () => curlDownload(side.serverAddr, dlSize[side.name], TARGET_S[side.name])));
  }
  recordAll(ctx, 'download_MBps', down);

  const ulSize = { tuntcp: 0, kernel: 0 };
  const file = (side: Side): string => path.join(ctx.tmpDir, `upload-${side.name}.bin`);
  for (const side of SIDES) {
    const upload = (n: number): Promise<Transfer> => {
      sparseFile(file(side), n);
      return curlUpload(side.serverAddr, file(side), n, 30);
    };
    ulSize[side.name] = sized(await probe(upload), TARGET_S[side.name]);
    sparseFile(file(side), ulSize[side.name]);
  }
  ctx.log(`upload: curl PUT /upload of ${ulSize.tuntcp} (tuntcp), ${ulSize.kernel} (kernel) bytes`);
  const up = samples();
  for (let r = 0; r < ctx.runs; r++) {
    for (const side of SIDES) up[side.name].push(await timed(side, r, () => curlUpload(side.serverAddr, file(side), ulSize[side.name], TARGET_S[side.name])));
  }
  recordAll(ctx, 'upload_MBps', up);

  for (const side of SIDES) {
    const perGB = (cpuUs[side.name] as number[]).map((us, r) => us / 1e6 / ((bytes[side.name][r] ?? 0) / GB));
    ctx.record('cpu_s_per_GB', side.name, perGB);
  }
  ctx.log(`  tuntcp: the TUN device's queue dropped ${tunDrops} packets on their way to tuntcp during the measured transfers`);
}

/** upload_discard_MBps: a raw stream from a Node client into discard (port 9). */
export async function discard(ctx: BenchContext): Promise<void> {
  await quiesce(ctx);
  const size = { tuntcp: 0, kernel: 0 };
  for (const side of SIDES) size[side.name] = sized(await probe((n) => discardStream(side.serverAddr, BENCH_PORTS.discard, n, 30)), TARGET_S[side.name]);
  ctx.log(`upload to discard: ${size.tuntcp} (tuntcp), ${size.kernel} (kernel) bytes`);
  const xs = samples();
  for (let r = 0; r < ctx.runs; r++) {
    for (const side of SIDES) xs[side.name].push((await discardStream(side.serverAddr, BENCH_PORTS.discard, size[side.name], TARGET_S[side.name])).MBps);
  }
  recordAll(ctx, 'upload_discard_MBps', xs);
}

/** One wrk run's requests/s; errors become a note. */
async function rate(ctx: BenchContext, side: Side, urlPath: string, seconds: number, close: boolean, label: string): Promise<number> {
  const w = await wrk(`http://${side.serverAddr}${urlPath}`, seconds, close);
  if (w.errors > 0) ctx.note(`wrk, ${label}, ${side.name}: ${w.errors} errors (non-2xx or socket errors) in ${w.requests} requests.`);
  return w.rps;
}

/**
 * keepalive_rps and newconn_cps: wrk -t2 -c32 against GET RATE_PATH, keep-alive and with
 * `Connection: close`. Then, once, tuntcp's GET / status page (keepalive_rps_status_page).
 */
export async function rates(ctx: BenchContext): Promise<void> {
  await quiesce(ctx);
  ctx.log(`request rates: wrk -t2 -c32 -d${WRK_S}s GET ${RATE_PATH}, keep-alive and Connection: close`);
  const keep = samples();
  const fresh = samples();
  for (let r = 0; r < ctx.runs; r++) {
    for (const side of SIDES) keep[side.name].push(await rate(ctx, side, RATE_PATH, WRK_S, false, 'keep-alive'));
    for (const side of SIDES) fresh[side.name].push(await rate(ctx, side, RATE_PATH, WRK_S, true, 'Connection: close'));
  }
  recordAll(ctx, 'keepalive_rps', keep);
  recordAll(ctx, 'newconn_cps', fresh);
  ctx.log(`request rate of tuntcp's status page: wrk -t2 -c32 -d${WRK_S}s GET /, one run`);
  ctx.record('keepalive_rps_status_page', 'tuntcp', [await rate(ctx, TUNTCP_SIDE, '/', WRK_S, false, 'GET / status page')]);
}

/**
 * download_MBps_offload and upload_MBps_offload: bulk's curl transfers against a fresh
 * tuntcp server with TUN offloads on (`tuntcp up --offload on`: a virtio-net header on
 * every packet, TSO out, GRO in). tuntcp only: the kernel column repeats bulk's veth
 * figures. The probes size the transfers and warm the new server up.
 */
export async function offload(ctx: BenchContext): Promise<void> {
  const side = TUNTCP_SIDE;
  const s = await ctx.startServer(side, { offload: true });
  try {
    let cpuUs = 0;
    let moved = 0;
    let tunDrops = 0;
    const timed = async (f: () => Promise<{ bytes: number; MBps: number }>): Promise<number> => {
      const before = await s.stats();
      const dropsBefore = tunTxDropped();
      const t = await f();
      tunDrops += (tunTxDropped() ?? 0) - (dropsBefore ?? 0);
      cpuUs += (await s.stats()).cpuUs - before.cpuUs;
      moved += t.bytes;
      return t.MBps;
    };
    const dlSize = sized(await probe((n) => curlDownload(side.serverAddr, n, 30)), OFFLOAD_TARGET_S);
    ctx.log(`download, ${s.label}: curl GET /bytes/N, N = ${dlSize}`);
    const down: number[] = [];
    for (let r = 0; r < ctx.runs; r++) down.push(await timed(() => curlDownload(side.serverAddr, dlSize, OFFLOAD_TARGET_S)));
    ctx.record('download_MBps_offload', side.name, down);

    const file = path.join(ctx.tmpDir, 'upload-tuntcp-offload.bin');
    const ulSize = sized(
      await probe((n) => {
        sparseFile(file, n);
        return curlUpload(side.serverAddr, file, n, 30);
      }),
      OFFLOAD_TARGET_S,
    );
    sparseFile(file, ulSize);
    ctx.log(`upload, ${s.label}: curl PUT /upload of ${ulSize} bytes`);
    const up: number[] = [];
    for (let r = 0; r < ctx.runs; r++) up.push(await timed(() => curlUpload(side.serverAddr, file, ulSize, OFFLOAD_TARGET_S)));
    ctx.record('upload_MBps_offload', side.name, up);
    // Not a row: the server's CPU per GB with offloads, beside bulk's cpu_s_per_GB.
    if (moved > 0) ctx.log(`  ${s.label}: ${(cpuUs / 1e6 / (moved / GB)).toPrecision(4)} s of server CPU per GB; the TUN device's queue dropped ${tunDrops} packets on their way to tuntcp`);
  } finally {
    await ctx.stopServer(s);
  }
}

/**
 * keepalive_rps_2workers and newconn_cps_2workers: rates' wrk runs against a fresh tuntcp
 * server with WORKERS worker threads (`tuntcp up --workers 2`: one queue each of a
 * multi-queue TUN device; the kernel spreads the flows over the queues). tuntcp only: the
 * kernel column repeats rates' figures. Shorter runs than rates', after a warm-up of
 * each kind, since every worker thread compiles its own code.
 */
export async function workers(ctx: BenchContext): Promise<void> {
  const side = TUNTCP_SIDE;
  const s = await ctx.startServer(side, { workers: WORKERS });
  try {
    ctx.log(`request rates, ${s.label}: wrk -t2 -c32 -d${WORKERS_WRK_S}s GET ${RATE_PATH}, keep-alive and Connection: close, after ${WRK_WARMUP_S} s of each unrecorded`);
    await rate(ctx, side, RATE_PATH, WRK_WARMUP_S, false, `warm-up, ${WORKERS} workers`);
    await rate(ctx, side, RATE_PATH, WRK_WARMUP_S, true, `warm-up, ${WORKERS} workers`);
    const keep: number[] = [];
    const fresh: number[] = [];
    // wrk's 32 keep-alive connections are few: how the kernel hashed them onto the queues matters, so say it.
    const opensNow = async (): Promise<number[]> => (await s.stats()).workerOpens ?? [];
    for (let r = 0; r < ctx.runs; r++) {
      const before = await opensNow();
      const rps = await rate(ctx, side, RATE_PATH, WORKERS_WRK_S, false, `keep-alive, ${WORKERS} workers`);
      const split = (await opensNow()).map((n, i) => n - (before[i] ?? 0));
      // A worker that has stopped answers with empty counters (while the run is being interrupted).
      const perWorker = split.length === WORKERS && split.every((n) => n >= 0) ? `, connections per worker ${split.join('/')}` : '';
      ctx.log(`  run ${r + 1}: keep-alive ${rps.toFixed(0)} requests/s${perWorker}`);
      keep.push(rps);
      fresh.push(await rate(ctx, side, RATE_PATH, WORKERS_WRK_S, true, `Connection: close, ${WORKERS} workers`));
    }
    ctx.record(`keepalive_rps_${WORKERS}workers`, side.name, keep);
    ctx.record(`newconn_cps_${WORKERS}workers`, side.name, fresh);
    // The kernel picks each flow's queue; a worker that got few flows makes the row a 1-worker figure.
    const opens = (await s.stats()).workerOpens ?? [];
    const total = opens.reduce((a, b) => a + b, 0);
    if (total > 0) {
      const shares = opens.map((n) => (100 * n) / total);
      ctx.log(`  connections accepted per worker: ${opens.map((n, i) => `worker ${i} ${n} (${(shares[i] ?? 0).toFixed(0)}%)`).join(', ')}`);
      if (shares.some((p) => p < 100 / opens.length / 2)) ctx.note(`${s.label}: the kernel spread the connections unevenly over the queues (${shares.map((p) => `${p.toFixed(0)}%`).join(' / ')}).`);
    }
  } finally {
    await ctx.stopServer(s);
  }
}

/** echo_p50_us, echo_p99_us: sequential 64-byte round trips on one connection to echo (port 7). */
export async function echo(ctx: BenchContext): Promise<void> {
  await quiesce(ctx);
  ctx.log(`echo latency: ${ECHO_COUNT} sequential ${ECHO_SIZE}-byte round trips`);
  const p50 = samples();
  const p99 = samples();
  for (let r = 0; r < ctx.runs; r++) {
    for (const side of SIDES) {
      const us = await echoRoundTrips(side.serverAddr, BENCH_PORTS.echo, ECHO_COUNT, ECHO_SIZE, ECHO_WARMUP, 60_000);
      p50[side.name].push(percentile(us, 50));
      p99[side.name].push(percentile(us, 99));
    }
  }
  recordAll(ctx, 'echo_p50_us', p50);
  recordAll(ctx, 'echo_p99_us', p99);
}

/**
 * rss_per_conn_KiB and rss_after_close_MiB: `count` idle connections to echo, each run on a
 * freshly started server so that the baseline is a process that has served nothing yet (a
 * process's RSS seldom shrinks back after a peak). RSS is read after a full GC each time.
 */
export async function scale(ctx: BenchContext, count: number): Promise<void> {
  ctx.log(`scale: ${count} idle connections to echo, a fresh server each run`);
  const perConn = samples();
  const afterClose = samples();
  for (let r = 0; r < ctx.runs; r++) {
    for (const side of SIDES) {
      const where = `scale run ${r + 1}, ${side.name}`;
      const s = await ctx.startServer(side);
      try {
        await sleep(300);
        const base = await s.stats(true);
        const idle = await openIdle(side.serverAddr, BENCH_PORTS.echo, count, IDLE_IN_FLIGHT, 60_000);
        const n = idle.sockets.length;
        if (n < count) ctx.note(`${where}: ${n} of ${count} connections opened (${idle.failed} failed: ${idle.firstError ?? 'out of time'}).`);
        const accepted = await waitFor(async () => ((await s.stats()).accepted.echo ?? 0) >= n, 20_000, 200);
        const loaded = await s.stats(true);
        if (!accepted) ctx.note(`${where}: the server had accepted ${loaded.accepted.echo ?? 0} of ${n} connections after 20 s.`);
        if (n > 0) perConn[side.name].push((loaded.rss - base.rss) / 1024 / n);

        // At most IDLE_IN_FLIGHT closes at a time: this phase measures memory, not a FIN flood.
        const dropsBefore = side.name === 'tuntcp' ? tunTxDropped() : null;
        const closeStart = Date.now();
        const left = await closeAll(idle.sockets, IDLE_IN_FLIGHT, 30_000);
        const closeS = (Date.now() - closeStart) / 1000;
        const dropsAfter = side.name === 'tuntcp' ? tunTxDropped() : null;
        const drops = dropsBefore === null || dropsAfter === null ? 0 : dropsAfter - dropsBefore;
        const dropped = drops > 0 ? `; the TUN device's queue dropped ${drops} packets on their way to tuntcp` : '';
        if (left > 0) ctx.note(`${where}: ${left} connections had not closed after 30 s and were destroyed${dropped}.`);
        const drained = await waitFor(
          async () => {
            const st = await s.stats();
            return (st.accepted.echo ?? 0) === 0 && (st.tcp === null || st.tcp.live === 0);
          },
          20_000,
          200,
        );
        const after = await s.stats(true);
        if (!drained) ctx.note(`${where}: after closing, the server still held ${after.accepted.echo ?? 0} sockets${after.tcp === null ? '' : ` and ${after.tcp.live} TCP connections`}.`);
        afterClose[side.name].push((after.rss - base.rss) / MiB);
        const mib = (st: { rss: number; heapUsed: number; arrayBuffers: number }): string =>
          `${(st.rss / MiB).toFixed(0)} (heap ${(st.heapUsed / MiB).toFixed(0)}, buffers ${(st.arrayBuffers / MiB).toFixed(0)})`;
        ctx.log(`  run ${r + 1} ${side.name}: ${n} opened in ${idle.seconds.toFixed(1)} s, closed in ${closeS.toFixed(1)} s${dropped}; server RSS MiB: baseline ${mib(base)}, ${n} open ${mib(loaded)}, all closed ${mib(after)}`);
      } finally {
        await ctx.stopServer(s);
      }
    }
  }
  recordAll(ctx, 'rss_per_conn_KiB', perConn);
  recordAll(ctx, 'rss_after_close_MiB', afterClose);
}
