/**
 * `npm run bench`: tuntcp over a TUN device and the kernel's TCP over a veth pair, side
 * by side in one run, both serving the same apps/ code (issue 6, item 1). bench/README.md
 * says what each figure means and how it is taken.
 *
 *   ts-node --transpile-only bench/run.ts [--runs N] [--only PHASES] [--no-ladder]
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
import { ECHO_COUNT, ECHO_SIZE, IDLE_TARGET, RATE_PATH, WRK_S, bulk, discard, echo, rates, scale, type BenchContext, type PerSide } from './lib/phases';
import { KERNEL_SIDE, SIDES, TUNTCP_SIDE, type Side } from './lib/protocol';
import { type Report, type Row, fileStamp, machine, markdown, median, row, textTable } from './lib/report';
import { ServerProcess, removeVeth } from './lib/servers';

const INNER_ENV = 'TUNTCP_BENCH_NETNS';
const ROOT = path.join(__dirname, '..');
const RESULTS_DIR = path.join(__dirname, 'results');
const TS_NODE = require.resolve('ts-node/register/transpile-only');

/** The rows, in order: issue 6's eight, then the extras. */
const METRICS: readonly { metric: string; unit: string }[] = [
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
];

const PHASES = ['echo', 'bulk', 'discard', 'rates', 'scale'] as const;
type Phase = (typeof PHASES)[number];

/** `npm run bench` includes the build and must finish in 5 minutes; this run should take well under. */
const BUDGET_S = 280;
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
    '  --runs N         repetitions of each measurement; the median is reported (1-9, default 3)',
    `  --only A,B       run only these phases: ${PHASES.join(', ')} (default: all)`,
    '  --no-ladder      run tuntcp without its ladder-diagram tracer (tuntcp up always has it on)',
  ].join('\n');
}

function parseOptions(argv: readonly string[]): Options {
  let runs = 3;
  let phases: Set<Phase> = new Set(PHASES);
  let ladder = true;
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
    } else if (a === '--no-ladder') ladder = false;
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
  if (!existsSync(path.join(ROOT, 'dist', 'create-stack.js'))) problems.push('dist/ is not built: run npm run build (npm run bench does)');
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
    env: { ...process.env, [INNER_ENV]: '1' },
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
  const began = Date.now();

  await run('ip', ['link', 'set', 'lo', 'up'], { timeoutMs: 5000 });
  tuneNamespace();
  tmpDir = scratchDir();

  const samples = new Map<string, PerSide<number | null>>();
  const notes: string[] = [];
  const startServer = async (side: Side): Promise<ServerProcess> => {
    const s = await ServerProcess.start(side, { ladder: opts.ladder });
    servers.add(s);
    return s;
  };
  const stopServer = async (s: ServerProcess): Promise<void> => {
    await s.stop();
    servers.delete(s);
  };

  // The long-running pair, for every phase but scale (which starts fresh ones).
  const needPair = [...opts.phases].some((p) => p !== 'scale');
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

  // Latency first, on quiet servers; the status page (slow) comes last, in rates.
  if (opts.phases.has('echo')) await echo(ctx);
  if (opts.phases.has('bulk')) await bulk(ctx);
  if (opts.phases.has('discard')) await discard(ctx);
  if (opts.phases.has('rates')) await rates(ctx);
  if (pair !== null) {
    for (const side of SIDES) await stopServer(pair[side.name]);
    pair = null;
  }
  let idleCount = IDLE_TARGET;
  if (opts.phases.has('scale')) {
    // The client holds one descriptor per connection, and so does the kernel-side server.
    const limit = openFilesLimit();
    idleCount = Math.min(IDLE_TARGET, limit - 500);
    if (idleCount < IDLE_TARGET) notes.push(`Idle connections: ${idleCount}, not ${IDLE_TARGET}: the open-files limit is ${limit}.`);
    await scale(ctx, idleCount);
  }

  const results: Row[] = METRICS.map(({ metric, unit }) => {
    const m = samples.get(metric);
    return row(metric, unit, m?.tuntcp ?? null, m?.kernel ?? null);
  });
  notes.unshift(
    `Each figure is the median of ${opts.runs} run${opts.runs === 1 ? '' : 's'} (keepalive_rps_status_page: one run). MTU 1500 on both sides; the TUN device without offloads, the veth pair with the driver's defaults.`,
    `tuntcp ${opts.ladder ? 'with its ladder-diagram tracer on, as `tuntcp up` runs it' : 'without its ladder-diagram tracer (--no-ladder)'}.`,
    `Request rates: wrk -t2 -c32 -d${WRK_S}s GET ${RATE_PATH}; keepalive_rps_status_page is GET /, tuntcp's status page (the kernel side has none).`,
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
  console.log(`\n${report.machine}\n${report.date}\n\n${textTable(results)}\n`);
  for (const n of notes) console.log(`* ${n}`);
  const wrote = complete ? `${path.relative(ROOT, jsonFile)} and ${path.relative(ROOT, latest)}` : `${path.relative(ROOT, jsonFile)} (a partial run leaves latest.md alone)`;
  console.log(`\nwrote ${wrote}; the run took ${took.toFixed(0)} s`);
  if (took > BUDGET_S) log(`warning: over the ${BUDGET_S} s budget (npm run bench should finish in 5 minutes, build included)`);
}

if (process.env[INNER_ENV] === '1') {
  inner(process.argv.slice(2)).catch((e: Error) => abort(1, `failed: ${e.stack ?? e.message}`));
} else {
  outer(process.argv.slice(2));
}
