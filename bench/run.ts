/**
 * `npm run bench`: tuntcp over a TUN device and the kernel's TCP over a veth pair, side
 * by side in one run, both serving the same apps/ code (issue 6, item 1). bench/README.md
 * says what each figure means and how it is taken.
 *
 *   ts-node --transpile-only bench/run.ts [--runs N] [--only PHASES] [--ladder]
 *
 * It re-executes itself under `unshare -n`, so every packet stays inside namespaces the
 * run creates: the bench's own (the clients, the TUN device, one end of the veth pair) and
 * the kernel-side server's (the other end), which lives exactly as long as that process.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants as fsConstants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run, stopAll } from './lib/children';
import {
  ECHO_COUNT,
  ECHO_SIZE,
  IDLE_TARGET,
  OFFLOAD_TARGET_S,
  RATE_PATH,
  WORKERS,
  WORKERS_WRK_S,
  WRK_S,
  bulk,
  discard,
  echo,
  offload,
  rates,
  scale,
  workers,
  type BenchContext,
  type PerSide,
} from './lib/phases';
import { KERNEL_SIDE, SIDES, TUNTCP_SIDE, type Side, type TuntcpVariant } from './lib/protocol';
import { type Report, type Row, fileStamp, machine, markdown, median, row, textTable } from './lib/report';
import { ServerProcess, removeVeth } from './lib/servers';

const INNER_ENV = 'TUNTCP_BENCH_NETNS';
const ROOT = path.join(__dirname, '..');
const RESULTS_DIR = path.join(__dirname, 'results');
const TS_NODE = require.resolve('ts-node/register/transpile-only');

/**
 * The rows, in order: issue 6's eight, then the extras, then the offload and worker rows.
 * A row with `kernelFrom` is measured on tuntcp only; its kernel column repeats that row's.
 */
const METRICS: readonly { metric: string; unit: string; kernelFrom?: string }[] = [
  { metric: 'download_MBps', unit: 'MB/s' },
  { metric: 'upload_MBps', unit: 'MB/s' },
  { metric: 'keepalive_rps', unit: 'requests/s' },
  { metric: 'newconn_cps', unit: 'connections/s' },
  { metric: 'echo_p50_us', unit: 'µs' },
  { metric: 'echo_p99_us', unit: 'µs' },
  { metric: 'rss_per_conn_KiB', unit: 'KiB' },
  { metric: 'cpu_s_per_GB', unit: 's/GB' },
  { metric: 'upload_discard_MBps', unit: 'MB/s' },
  { metric: 'keepalive_rps_status_page', unit: 'requests/s' },
  { metric: 'rss_after_close_MiB', unit: 'MiB' },
  { metric: 'download_MBps_offload', unit: 'MB/s', kernelFrom: 'download_MBps' },
  { metric: 'upload_MBps_offload', unit: 'MB/s', kernelFrom: 'upload_MBps' },
  { metric: `keepalive_rps_${WORKERS}workers`, unit: 'requests/s', kernelFrom: 'keepalive_rps' },
  { metric: `newconn_cps_${WORKERS}workers`, unit: 'connections/s', kernelFrom: 'newconn_cps' },
];

/** In the order they run: the long-running pair serves the first four; the others start their own servers. */
const PHASES = ['echo', 'bulk', 'discard', 'rates', 'offload', 'workers', 'scale'] as const;
const PAIR_PHASES: ReadonlySet<Phase> = new Set(['echo', 'bulk', 'discard', 'rates']);
type Phase = (typeof PHASES)[number];

/**
 * `npm run bench` includes the build and must finish in 5 minutes. The build (tsc) takes a
 * few seconds; a complete run at the default 3 runs, timed from this process's start
 * (ts-node and the namespace included), should take under this: 184 s on a 2-core
 * EPYC VM (3 min 7 s for `npm run bench`, build included), 2026-11-25.
 */
const BUDGET_S = 280;
const DEFAULT_RUNS = 3;
/** When the outer process started (ms since the epoch), passed to the one in the namespace. */
const STARTED_ENV = 'TUNTCP_BENCH_STARTED';
/** A hard bound on the whole run, far above the budget: a stuck run still ends, and cleans up. */
const WATCHDOG_MS = 600_000;

interface Options {
  runs: number;
  phases: ReadonlySet<Phase>;
  ladder: boolean;
}

function usage(): string {
  return [
    'usage: npm run bench [-- OPTIONS]   (as root; see bench/README.md)',
    `  --runs N         repetitions of each measurement; the median is reported (1-9, default ${DEFAULT_RUNS})`,
    `  --only A,B       run only these phases: ${PHASES.join(', ')} (default: all)`,
    '  --ladder         run tuntcp with its ladder-diagram tracer on, as `tuntcp up` without',
    '                   --no-ladders does (default: off, the tracer is not what is measured;',
    '                   --no-ladder is accepted and means the default)',
  ].join('\n');
}

function parseOptions(argv: readonly string[]): Options {
  let runs = DEFAULT_RUNS;
  let phases: Set<Phase> = new Set(PHASES);
  let ladder = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs') {
      runs = Number(argv[++i]);
      if (!Number.isInteger(runs) || runs < 1 || runs > 9) fail(`--runs: expected an integer from 1 to 9\n${usage()}`);
    } else if (a === '--only') {
      const list = (argv[++i] ?? '').split(',').filter((p) => p !== '');
      const bad = list.filter((p) => !(PHASES as readonly string[]).includes(p));
      if (list.length === 0 || bad.length > 0) fail(`--only: expected phases from ${PHASES.join(', ')}\n${usage()}`);
      phases = new Set(list as Phase[]);
    } else if (a === '--ladder') ladder = true;
    else if (a === '--no-ladder') ladder = false;
    else if (a === '--help' || a === '-h') {
      console.log(usage());
      process.exit(0);
    } else fail(`unknown argument ${String(a)}\n${usage()}`);
  }
  return { runs, phases, ladder };
}

function fail(msg: string): never {
  console.error(`bench: ${msg}`);
  process.exit(1);
}

function log(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

// ---------------------------------------------------------------------------------------
// Outside the namespace: check what the run needs, then re-execute under `unshare -n`.

const TOOLS: readonly (readonly [tool: string, pkg: string])[] = [
  ['curl', 'curl'],
  ['wrk', 'wrk'],
  ['ip', 'iproute2'],
  ['unshare', 'util-linux'],
  ['nsenter', 'util-linux'],
];

function preflight(): void {
  const problems: string[] = [];
  if (process.platform !== 'linux') problems.push('it runs on Linux only');
  if (typeof process.getuid === 'function' && process.getuid() !== 0) problems.push('it needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN, for unshare -n and the TUN device)');
  if (!existsSync('/dev/net/tun')) problems.push('/dev/net/tun is missing (modprobe tun, or pass --device /dev/net/tun to the container)');
  // server.ts loads tuntcp up's own path from dist/; --workers threads run dist/worker.js.
  const built = ['create-stack.js', 'run.js', 'cli-options.js', 'workers.js', 'worker.js'].every((f) => existsSync(path.join(ROOT, 'dist', f)));
  if (!built) problems.push('dist/ is not built: run npm run build (npm run bench does)');
  const missing = TOOLS.filter(([t]) => spawnSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' }).status !== 0);
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map(([, p]) => p))].join(' ');
    problems.push(`${missing.map(([t]) => t).join(', ')} not found: install with  apt-get install -y ${pkgs}`);
  }
  if (problems.length > 0) fail(`cannot run:\n  ${problems.join('\n  ')}`);
}

function outer(argv: readonly string[]): void {
  parseOptions(argv);
  preflight();
  const child = spawn('unshare', ['-n', '--', process.execPath, '-r', TS_NODE, __filename, ...argv], {
    stdio: 'inherit',
    env: { ...process.env, [INNER_ENV]: '1', [STARTED_ENV]: String(Math.round(performance.timeOrigin)) },
  });
  // Ctrl-C reaches the whole process group; a signal sent to this process alone is passed on.
  const forward = (sig: NodeJS.Signals): void => {
    if (child.pid === undefined || child.exitCode !== null) return;
    try {
      process.kill(child.pid, sig);
    } catch {
      // Gone already.
    }
  };
  process.on('SIGINT', () => forward('SIGINT'));
  process.on('SIGTERM', () => forward('SIGTERM'));
  child.once('error', (e) => fail(`unshare: ${e.message}`));
  child.once('exit', (code, signal) => process.exit(code ?? 128 + (signal === null ? 0 : (os.constants.signals[signal] ?? 0))));
}

// ---------------------------------------------------------------------------------------
// Inside the namespace.

let tmpDir: string | null = null;
const servers = new Set<ServerProcess>();
let cleaning: Promise<void> | null = null;

/** Stop our servers and tools (each by PID), remove the veth end and the scratch files. Idempotent. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.all([...servers].map((s) => s.stop().catch(() => undefined)));
    await stopAll();
    await removeVeth().catch(() => undefined);
    if (tmpDir !== null) rmSync(tmpDir, { recursive: true, force: true });
  })();
  return cleaning;
}

let aborting = false;

/** Clean up and exit with `code`; only the first call counts (what fails after an interrupt is its echo). */
function abort(code: number, why: string): void {
  if (aborting) return;
  aborting = true;
  log(why);
  const force = setTimeout(() => process.exit(code), 15_000);
  force.unref();
  void cleanup().finally(() => process.exit(code));
}

/** Settings for the bench's namespace only (a namespace has its own /proc/sys/net). */
function tuneNamespace(): void {
  // Clients reuse their own TIME-WAIT ports, and have plenty of them, run after run.
  writeFileSync('/proc/sys/net/ipv4/tcp_tw_reuse', '1');
  writeFileSync('/proc/sys/net/ipv4/ip_local_port_range', '1024 65535');
  // IPv4 only, on both links: no IPv6 chatter into the TUN device or the veth.
  writeFileSync('/proc/sys/net/ipv6/conf/all/disable_ipv6', '1');
  writeFileSync('/proc/sys/net/ipv6/conf/default/disable_ipv6', '1');
}

/** Scratch space for the upload files: tmpfs (/dev/shm) when writable, where reading a sparse file costs nothing. */
function scratchDir(): string {
  const TMPFS_MAGIC = 0x01021994;
  let base = os.tmpdir();
  try {
    accessSync('/dev/shm', fsConstants.W_OK);
    if (statfsSync('/dev/shm').type === TMPFS_MAGIC) base = '/dev/shm';
  } catch {
    // os.tmpdir() it is.
  }
  return mkdtempSync(path.join(base, 'tuntcp-bench-'));
}

function openFilesLimit(): number {
  const m = /^Max open files\s+([0-9]+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m?.[1] === undefined || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

async function inner(argv: readonly string[]): Promise<void> {
  const opts = parseOptions(argv);
  process.on('SIGINT', () => abort(130, 'interrupted; cleaning up'));
  process.on('SIGTERM', () => abort(143, 'terminated; cleaning up'));
  process.on('uncaughtException', (e) => abort(1, `failed: ${e.stack ?? e.message}`));
  const watchdog = setTimeout(() => abort(1, `gave up: the run took longer than ${WATCHDOG_MS / 1000} s`), WATCHDOG_MS);
  watchdog.unref();
  // From the outer process's start: ts-node's start-up and the namespace count too.
  const outerStart = Number(process.env[STARTED_ENV]);
  const began = Number.isFinite(outerStart) && outerStart > 0 ? outerStart : Date.now();

  await run('ip', ['link', 'set', 'lo', 'up'], { timeoutMs: 5000 });
  tuneNamespace();
  tmpDir = scratchDir();

  const samples = new Map<string, PerSide<number | null>>();
  const notes: string[] = [];
  const startServer = async (side: Side, variant: Partial<Omit<TuntcpVariant, 'ladder'>> = {}): Promise<ServerProcess> => {
    const s = await ServerProcess.start(side, { ladder: opts.ladder, offload: variant.offload ?? false, workers: variant.workers ?? 1 });
    servers.add(s);
    return s;
  };
  const stopServer = async (s: ServerProcess): Promise<void> => {
    await s.stop();
    servers.delete(s);
  };

  // The long-running pair, for echo, bulk, discard and rates; the other phases start their own.
  const needPair = [...opts.phases].some((p) => PAIR_PHASES.has(p));
  let pair: PerSide<ServerProcess> | null = null;
  if (needPair) {
    log(`starting the servers: tuntcp on TUN ${TUNTCP_SIDE.dev} at ${TUNTCP_SIDE.serverAddr}, the kernel's TCP behind a veth pair at ${KERNEL_SIDE.serverAddr}`);
    pair = { tuntcp: await startServer(TUNTCP_SIDE), kernel: await startServer(KERNEL_SIDE) };
  }
  const ctx: BenchContext = {
    runs: opts.runs,
    tmpDir,
    get servers(): PerSide<ServerProcess> {
      if (pair === null) throw new Error('no long-running servers in this run');
      return pair;
    },
    startServer,
    stopServer,
    record(metric, side, xs) {
      const m = samples.get(metric) ?? { tuntcp: null, kernel: null };
      m[side] = median(xs);
      samples.set(metric, m);
      log(`  ${metric} ${side}: ${xs.map((x) => x.toPrecision(4)).join(', ')}${xs.length > 1 ? ` (median ${m[side]?.toPrecision(4) ?? '-'})` : ''}`);
    },
    note: (text) => notes.push(text),
    log,
  };

  // Latency first, on quiet servers; the status page (slow with ladders) comes last, in rates.
  const timings: string[] = [];
  const phase = async (name: Phase, f: () => Promise<void>): Promise<void> => {
    if (!opts.phases.has(name)) return;
    const t0 = Date.now();
    await f();
    const s = (Date.now() - t0) / 1000;
    timings.push(`${name} ${s.toFixed(0)} s`);
    log(`phase ${name} took ${s.toFixed(1)} s`);
  };
  await phase('echo', () => echo(ctx));
  await phase('bulk', () => bulk(ctx));
  await phase('discard', () => discard(ctx));
  await phase('rates', () => rates(ctx));
  if (pair !== null) {
    for (const side of SIDES) await stopServer(pair[side.name]);
    pair = null;
  }
  // One tuntcp server at a time on the device: these start after the pair has stopped.
  await phase('offload', () => offload(ctx));
  await phase('workers', () => workers(ctx));
  let idleCount = IDLE_TARGET;
  await phase('scale', async () => {
    // The client holds one descriptor per connection, and so does the kernel-side server.
    const limit = openFilesLimit();
    idleCount = Math.min(IDLE_TARGET, limit - 500);
    if (idleCount < IDLE_TARGET) notes.push(`Idle connections: ${idleCount}, not ${IDLE_TARGET}: the open-files limit is ${limit}.`);
    await scale(ctx, idleCount);
  });

  const results: Row[] = METRICS.map(({ metric, unit, kernelFrom }) => {
    const m = samples.get(metric);
    const kernel = kernelFrom === undefined ? m?.kernel : samples.get(kernelFrom)?.kernel;
    return row(metric, unit, m?.tuntcp ?? null, kernel ?? null);
  });
  const tuntcpFigure = (metric: string): number | null => samples.get(metric)?.tuntcp ?? null;
  const scaling = (metric: string): string => {
    const one = tuntcpFigure(metric);
    const two = tuntcpFigure(`${metric}_${WORKERS}workers`);
    return one === null || two === null || one === 0 ? '-' : `x${(two / one).toFixed(2)}`;
  };
  if (opts.phases.has('workers')) {
    notes.push(
      `Scaling of tuntcp from 1 to ${WORKERS} workers on this machine (${os.cpus().length} cores, shared with wrk's two threads and the kernel): keepalive_rps ${scaling('keepalive_rps')}, newconn_cps ${scaling('newconn_cps')}.`,
    );
  }
  notes.unshift(
    `Each figure is the median of ${opts.runs} run${opts.runs === 1 ? '' : 's'} (keepalive_rps_status_page: one run). MTU 1500 on both sides. The TUN device has no offloads except in the *_offload rows; the veth pair has the driver's default offloads (GSO/GRO, checksum) in all rows.`,
    `tuntcp ${opts.ladder ? 'with its ladder-diagram tracer on (--ladder), as `tuntcp up` runs it by default' : 'without its ladder-diagram tracer, as `tuntcp up --no-ladders` runs it (--ladder turns it on)'}${opts.ladder ? '' : '; the status page then has no ladder diagrams'}.`,
    `Request rates: wrk -t2 -c32 -d${WRK_S}s GET ${RATE_PATH}; keepalive_rps_status_page is GET /, tuntcp's status page (the kernel side has none).`,
    `*_offload rows: a tuntcp server started with --offload on (virtio-net header, TSO out, GRO in), transfers of about ${OFFLOAD_TARGET_S} s; *_${WORKERS}workers rows: a tuntcp server started with --workers ${WORKERS} (one multi-queue TUN queue per worker thread), wrk -d${WORKERS_WRK_S}s. Both are tuntcp only: their kernel column repeats the plain row's kernel figure.`,
    `Echo: ${ECHO_COUNT} sequential ${ECHO_SIZE}-byte round trips from a Node client. Scale: ${idleCount} idle connections to echo, a fresh server per run.`,
    'Kernel cpu_s_per_GB is the server process\'s own CPU time (user + system); kernel work in softirq context or on the client\'s side is not counted.',
    'Kernel rss_per_conn_KiB is the server process\'s RSS only; the kernel\'s own socket memory is not counted.',
  );
  if (opts.phases.size < PHASES.length) notes.unshift(`Partial run: --only ${[...opts.phases].join(',')}.`);

  const now = new Date();
  const report: Report = { date: now.toISOString(), machine: machine(), results };
  mkdirSync(RESULTS_DIR, { recursive: true });
  const jsonFile = path.join(RESULTS_DIR, `${fileStamp(now)}.json`);
  writeFileSync(jsonFile, `${JSON.stringify(report, null, 2)}\n`);
  // latest.md is what the README quotes: only a complete run replaces it.
  const complete = opts.phases.size === PHASES.length;
  const latest = path.join(RESULTS_DIR, 'latest.md');
  if (complete) writeFileSync(latest, markdown(report, notes));

  await cleanup();
  clearTimeout(watchdog);
  const took = (Date.now() - began) / 1000;
  if (timings.length > 0) console.log(`\nphases: ${timings.join(', ')}`);
  console.log(`\n${report.machine}\n${report.date}\n\n${textTable(results)}\n`);
  for (const n of notes) console.log(`* ${n}`);
  const wrote = complete ? `${path.relative(ROOT, jsonFile)} and ${path.relative(ROOT, latest)}` : `${path.relative(ROOT, jsonFile)} (a partial run leaves latest.md alone)`;
  console.log(`\nwrote ${wrote}; the run took ${took.toFixed(0)} s`);
  // The budget is for the default: every phase, DEFAULT_RUNS runs.
  if (complete && opts.runs <= DEFAULT_RUNS && took > BUDGET_S) log(`warning: over the ${BUDGET_S} s budget (npm run bench should finish in 5 minutes, build included)`);
}

if (process.env[INNER_ENV] === '1') {
  inner(process.argv.slice(2)).catch((e: Error) => abort(1, `failed: ${e.stack ?? e.message}`));
} else {
  outer(process.argv.slice(2));
}
