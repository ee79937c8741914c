/**
 * The measurements, one function per phase. Each runs every repetition on both sides in
 * turn (tuntcp, kernel, tuntcp, kernel, ...), so slow drift on the machine hits both
 * alike, and records the median of the repetitions.
 */
import { closeSync, ftruncateSync, openSync } from 'node:fs';
import * as path from 'node:path';
import { sleep, waitFor } from './children';
import { closeAll, curlDownload, curlUpload, discardStream, echoRoundTrips, openIdle, wrk } from './clients';
import { BENCH_PORTS, SIDES, TUNTCP_SIDE, type Side } from './protocol';
import { percentile } from './report';
import type { ServerProcess } from './servers';

const MiB = 1024 * 1024;
const GB = 1e9;

/** Bulk transfers: a probe (which also warms up) sizes each side's transfer to last about this long. */
export const TARGET_S: Readonly<Record<Side['name'], number>> = { tuntcp: 3, kernel: 2 };
const PROBE_BYTES = 16 * MiB;
/** Below the site's own MAX_BYTES (10 GiB); bounds a transfer on a very fast machine. */
const MAX_BYTES = 8 * 1024 * MiB;
/** wrk's run length, seconds (issue 6: wrk -t2 -c32). */
export const WRK_S = 5;
/** A small fixed response for the request-rate rows: the site's handler, no stack-state page. */
export const RATE_PATH = '/bytes/64';
export const ECHO_COUNT = 10_000;
const ECHO_WARMUP = 1000;
export const ECHO_SIZE = 64;
export const IDLE_TARGET = 10_000;
/** Handshakes in flight while opening idle connections (both listeners' backlog is 511). */
const IDLE_IN_FLIGHT = 128;

export type PerSide<T> = Record<Side['name'], T>;

export interface BenchContext {
  readonly runs: number;
  /** A scratch directory (tmpfs when there is one), removed at the end. */
  readonly tmpDir: string;
  /** The long-running server of each side (for every phase but scale). */
  readonly servers: PerSide<ServerProcess>;
  /** A fresh server of `side` (scale starts one per run); stopServer when done with it. */
  startServer(side: Side): Promise<ServerProcess>;
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
  const timed = async (side: Side, r: number, f: () => Promise<{ bytes: number; MBps: number }>): Promise<number> => {
    const server = ctx.servers[side.name];
    const before = await server.stats();
    const t = await f();
    const after = await server.stats();
    cpuUs[side.name][r] = (cpuUs[side.name][r] ?? 0) + after.cpuUs - before.cpuUs;
    bytes[side.name][r] = (bytes[side.name][r] ?? 0) + t.bytes;
    return t.MBps;
  };

  const dlSize = { tuntcp: 0, kernel: 0 };
  for (const side of SIDES) dlSize[side.name] = sized((await curlDownload(side.serverAddr, PROBE_BYTES, 30)).MBps, TARGET_S[side.name]);
  ctx.log(`download: curl GET /bytes/N, N = ${dlSize.tuntcp} (tuntcp), ${dlSize.kernel} (kernel)`);
  const down = samples();
  for (let r = 0; r < ctx.runs; r++) {
    for (const side of SIDES) down[side.name].push(await timed(side, r, () => curlDownload(side.serverAddr, dlSize[side.name], TARGET_S[side.name])));
  }
  recordAll(ctx, 'download_MBps', down);

  const ulSize = { tuntcp: 0, kernel: 0 };
  const file = (side: Side): string => path.join(ctx.tmpDir, `upload-${side.name}.bin`);
  for (const side of SIDES) {
    sparseFile(file(side), PROBE_BYTES);
    ulSize[side.name] = sized((await curlUpload(side.serverAddr, file(side), PROBE_BYTES, 30)).MBps, TARGET_S[side.name]);
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
}

/** upload_discard_MBps: a raw stream from a Node client into discard (port 9). */
export async function discard(ctx: BenchContext): Promise<void> {
  await quiesce(ctx);
  const size = { tuntcp: 0, kernel: 0 };
  for (const side of SIDES) size[side.name] = sized((await discardStream(side.serverAddr, BENCH_PORTS.discard, PROBE_BYTES, 30)).MBps, TARGET_S[side.name]);
  ctx.log(`upload to discard: ${size.tuntcp} (tuntcp), ${size.kernel} (kernel) bytes`);
  const xs = samples();
  for (let r = 0; r < ctx.runs; r++) {
    for (const side of SIDES) xs[side.name].push((await discardStream(side.serverAddr, BENCH_PORTS.discard, size[side.name], TARGET_S[side.name])).MBps);
  }
  recordAll(ctx, 'upload_discard_MBps', xs);
}

/**
 * keepalive_rps and newconn_cps: wrk -t2 -c32 against GET RATE_PATH, keep-alive and with
 * `Connection: close`. Then, once, tuntcp's GET / status page (keepalive_rps_status_page).
 */
export async function rates(ctx: BenchContext): Promise<void> {
  await quiesce(ctx);
  const rate = async (side: Side, urlPath: string, close: boolean, label: string): Promise<number> => {
    const w = await wrk(`http://${side.serverAddr}${urlPath}`, WRK_S, close);
    if (w.errors > 0) ctx.note(`wrk, ${label}, ${side.name}: ${w.errors} errors (non-2xx or socket errors) in ${w.requests} requests.`);
    return w.rps;
  };
  ctx.log(`request rates: wrk -t2 -c32 -d${WRK_S}s GET ${RATE_PATH}, keep-alive and Connection: close`);
  const keep = samples();
  const fresh = samples();
  for (let r = 0; r < ctx.runs; r++) {
    for (const side of SIDES) keep[side.name].push(await rate(side, RATE_PATH, false, 'keep-alive'));
    for (const side of SIDES) fresh[side.name].push(await rate(side, RATE_PATH, true, 'Connection: close'));
  }
  recordAll(ctx, 'keepalive_rps', keep);
  recordAll(ctx, 'newconn_cps', fresh);
  ctx.log(`request rate of tuntcp's status page: wrk -t2 -c32 -d${WRK_S}s GET /, one run`);
  ctx.record('keepalive_rps_status_page', 'tuntcp', [await rate(TUNTCP_SIDE, '/', false, 'GET / status page')]);
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

        const left = await closeAll(idle.sockets, 30_000);
        if (left > 0) ctx.note(`${where}: ${left} connections had not closed after 30 s and were destroyed.`);
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
        ctx.log(`  run ${r + 1} ${side.name}: ${n} opened in ${idle.seconds.toFixed(1)} s; server RSS MiB: baseline ${mib(base)}, ${n} open ${mib(loaded)}, all closed ${mib(after)}`);
      } finally {
        await ctx.stopServer(s);
      }
    }
  }
  recordAll(ctx, 'rss_per_conn_KiB', perConn);
  recordAll(ctx, 'rss_after_close_MiB', afterClose);
}
