#!/usr/bin/env node
/**
 * The `tuntcp` command: argument parsing and wiring, nothing else. Errors are one line on
 * stderr and a non-zero exit (DESIGN.md, CLI contract).
 */
import { Command, FLAGS, ParsedFlags, UsageError, helpText, parseFlags } from './cli-options';
import { ControlServer, StatsReply, fetchStats, mergeStats, renderStatsReply, statsSnapshot } from './control';
import { openStack, startFlaggedServices, traceOnStderr } from './run';
import { parseIpv4 } from './wire/ipv4';
import { WorkerPool } from './workers';

const COMMANDS: readonly Command[] = ['up', 'connect', 'stats'];

function mainHelp(): string {
  return [
    'usage: tuntcp <command> [flags]',
    '',
    'commands:',
    '  up                    create the TUN device and run the stack and its services',
    '  connect HOST PORT     open a TCP connection from the stack, like nc',
    '  stats                 the live connection table of a running tuntcp up (like ss -ti)',
    '',
    "run 'tuntcp <command> --help' for the command's flags",
    '',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(mainHelp());
    return cmd === undefined ? 2 : 0;
  }
  if (!(COMMANDS as readonly string[]).includes(cmd)) throw new UsageError(`unknown command '${cmd}' (try tuntcp --help)`);
  const command = cmd as Command;
  const { flags, positional } = parseFlags(command, rest);
  if (flags.help === true) {
    process.stdout.write(helpText(command));
    return 0;
  }
  switch (command) {
    case 'up':
      if (positional.length > 0) throw new UsageError(`unexpected argument '${positional[0]}' for 'tuntcp up'`);
      return up(flags);
    case 'connect':
      return connect(flags, positional);
    case 'stats':
      if (positional.length > 0) throw new UsageError(`unexpected argument '${positional[0]}' for 'tuntcp stats'`);
      return stats(flags);
  }
}

async function up(flags: ParsedFlags): Promise<number> {
  const workers = Number(flags.workers);
  if (workers > 1 && flags.pcap !== undefined) throw new UsageError('--pcap captures one queue: use it with --workers 1');
  if (workers > 1 && flags.impair !== undefined) throw new UsageError('--impair needs one shim for the whole link: use it with --workers 1');
  // Worker 0 (this thread) creates and configures the device; the others attach to it.
  const running = openStack(flags, { multiQueue: workers > 1 });
  let services;
  let pool: WorkerPool | null = null;
  try {
    services = startFlaggedServices(running, flags);
    await services.ready;
    if (workers > 1) pool = await WorkerPool.start(workers, flags);
  } catch (e) {
    running.close();
    throw e;
  }
  const snapshot = async (): Promise<StatsReply> => {
    const mine = statsSnapshot(running.tcp, running.counters);
    return pool === null ? mine : mergeStats([mine, ...(await pool.stats())]);
  };
  // The control channel for `tuntcp stats`; without it the stack still runs.
  const control = await ControlServer.start({ dev: running.device?.name ?? 'tuntcp0', handlers: { stats: snapshot } }).catch((e: Error) => {
    process.stderr.write(`tuntcp: warning: no control socket (tuntcp stats will not reach this instance): ${e.message}\n`);
    return null;
  });
  const on = services.services.map((s) => `${s.name} ${s.port}`).join(', ');
  const impaired = running.impaired === null ? '' : `; impaired (seed ${running.impaired.seed})`;
  const queues = pool === null ? '' : `; ${workers} workers, one queue each`;
  process.stdout.write(`tuntcp ready: ${running.describe()}; ${on || 'no services'}${impaired}${queues}\n`);
  await signalled();
  await control?.close();
  // Close the services (their connections end gracefully), then the stack: whatever has
  // not closed within a grace period is reset.
  await Promise.all([pool?.stop(), Promise.race([services.close(), delay(2000)])]);
  running.close();
  return 0;
}

/** `tuntcp connect HOST PORT`: like nc — stdin to the connection, the connection to stdout. */
async function connect(flags: ParsedFlags, positional: string[]): Promise<number> {
  const [host, portText, extra] = positional;
  if (host === undefined || portText === undefined) throw new UsageError('usage: tuntcp connect HOST PORT [flags]');
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
  if (parseIpv4(host) === null) throw new UsageError(`HOST must be an IPv4 address, got ${JSON.stringify(host)}`);
  if (!/^\d+$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) throw new UsageError(`PORT must be 1-65535, got ${JSON.stringify(portText)}`);
  traceOnStderr();
  const running = openStack(flags);
  process.stderr.write(`tuntcp ready: ${running.describe()}; connecting to ${host}:${portText}\n`);
  const socket = running.connect({ host, port: Number(portText) });
  const done = new Promise<number>((resolve) => {
    socket.on('error', (e: Error) => {
      process.stderr.write(`tuntcp: ${e.message}\n`);
      resolve(1);
    });
    socket.on('close', (hadError: boolean) => resolve(hadError ? 1 : 0));
  });
  let progress: NodeJS.Timeout | null = null;
  socket.once('connect', () => {
    process.stdin.pipe(socket); // stdin's end half-closes the connection (FIN)
    if (process.stderr.isTTY === true) progress = showProgress(socket);
  });
  socket.pipe(process.stdout);
  const stop = (): void => {
    socket.destroy();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const code = await done;
  if (progress !== null) {
    clearInterval(progress);
    process.stderr.write('\r\x1b[K');
  }
  process.stdin.unpipe(socket);
  process.stdin.destroy();
  // Let the last segments (our FIN's ACK) leave before the device goes away.
  await delay(50);
  running.close();
  return code;
}

/** `tuntcp stats`: ask a running `tuntcp up` over its control socket. */
async function stats(flags: ParsedFlags): Promise<number> {
  const reply = await fetchStats({ dev: String(flags.dev) });
  process.stdout.write(renderStatsReply(reply, { json: flags.json === true }));
  return 0;
}

/** On a terminal: bytes sent and the rate, rewritten in place four times a second. */
function showProgress(socket: { bytesWritten: number }): NodeJS.Timeout {
  const start = Date.now();
  const timer = setInterval(() => {
    const sent = socket.bytesWritten;
    const secs = (Date.now() - start) / 1000;
    process.stderr.write(`\r\x1b[K${formatBytes(sent)} sent, ${formatBytes(secs > 0 ? sent / secs : 0)}/s`);
  }, 250);
  timer.unref();
  return timer;
}

function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function signalled(): Promise<void> {
  return new Promise((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as { message?: string };
    process.stderr.write(`tuntcp: ${e.message ?? String(err)}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);

export { FLAGS };
