/**
 * Helpers for integration tests: they run inside the fresh network namespace that
 * test/helpers/in-netns.js creates (npm run test:integration), start `tuntcp` or an
 * in-process stack on a real TUN device there, and drive the kernel's own tools at it.
 */
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');
export const CLI = path.join(ROOT, 'dist/cli.js');

/**
 * Refuse to run outside a private network namespace: a test must never put packets on
 * this machine's real interfaces.
 */
export function assertInPrivateNetns(): void {
  const mine = readlinkSync('/proc/self/ns/net');
  let init = '';
  try {
    init = readlinkSync('/proc/1/ns/net');
  } catch {
    // Not allowed to look at pid 1: only possible when we are in another user/pid ns.
  }
  // In a container (docker/compose.yaml's test service) the container's own namespace is
  // the private one, and its pid 1 shares it: TUNTCP_CONTAINER=1 says so.
  const container = process.env.TUNTCP_CONTAINER === '1';
  if ((mine === init && !container) || process.env.TUNTCP_NETNS !== '1') {
    throw new Error('integration tests must run in a private network namespace: use npm run test:integration');
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command to completion (bounded by `timeoutMs`), never rejecting. */
export function run(cmd: string, args: readonly string[], opts: { timeoutMs?: number; input?: string | Buffer; encoding?: 'utf8' | 'buffer' } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1;
      resolve({ code, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export interface CliProcess {
  readonly child: ChildProcess;
  /** Everything printed so far. */
  stdout(): string;
  stderr(): string;
  /** SIGTERM (or `signal`), then wait for the exit code (SIGKILL after `graceMs`). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
}

/** Start `tuntcp <args>` and resolve once it prints its ready line. */
export function startCli(args: readonly string[], readyTimeoutMs = 15_000): Promise<CliProcess> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const proc: CliProcess = {
    child,
    stdout: () => out,
    stderr: () => err,
    async stop(signal = 'SIGTERM', graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tuntcp ${args.join(' ')} printed no ready line in ${readyTimeoutMs} ms; stderr: ${err}`));
    }, readyTimeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (/\bready\b/.test(out)) {
        clearTimeout(timer);
        resolve(proc);
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`tuntcp ${args.join(' ')} exited with ${code} before it was ready: ${err.trim()}`));
    });
  });
}

/** Parse `ping` output: how many replies came back. */
export function pingReceived(stdout: string): number {
  const m = /(\d+) received/.exec(stdout);
  return m === null ? 0 : Number(m[1]);
}
