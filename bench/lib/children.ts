/**
 * Every process the bench starts goes through here, so that cleanup can stop exactly
 * those, by PID, on every exit path; and every command runs under a time limit.
 */
import { ChildProcess, SpawnOptions, spawn } from 'node:child_process';

const live = new Map<number, ChildProcess>();

/** Remember a child until it exits. */
export function track(child: ChildProcess): ChildProcess {
  const pid = child.pid;
  if (pid !== undefined) {
    live.set(pid, child);
    child.once('exit', () => live.delete(pid));
  }
  return child;
}

/** Resolves when `child` has exited (at once if it already has); false on timeout. */
export function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(t);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** SIGTERM one child by its PID, then SIGKILL if it has not gone within `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await exited(child, graceMs)) return;
  try {
    process.kill(child.pid, 'SIGKILL');
  } catch {
    return;
  }
  await exited(child, 2000);
}

/** Stop every child still running (each by its own PID). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live.values()].map((c) => stopChild(c, 2000)));
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    message: string,
    readonly result: RunResult | null,
  ) {
    super(message);
  }
}

/**
 * Run a command to completion and capture its output; SIGKILL it (by PID) after
 * `timeoutMs`. Rejects on a spawn failure, a timeout, or a non-zero exit unless `allowFail`.
 */
export function run(cmd: string, args: readonly string[], opts: { timeoutMs: number; allowFail?: boolean; spawn?: SpawnOptions }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts.spawn }));
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }, opts.timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new CommandError(`${cmd}: ${e.message}`, null));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const r = { code, signal, stdout, stderr };
      const line = `${cmd} ${args.join(' ')}`;
      if (timedOut) reject(new CommandError(`timed out after ${opts.timeoutMs} ms: ${line}`, r));
      else if (code !== 0 && opts.allowFail !== true) reject(new CommandError(`exit ${code ?? signal}: ${line}\n${stderr.trim()}`, r));
      else resolve(r);
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Poll `cond` every `everyMs` until it holds (true) or `timeoutMs` passes (false). */
export async function waitFor(cond: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 100): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() >= end) return false;
    await sleep(everyMs);
  }
}
