/**
 * Headless Chromium for browser tests (Debian's `chromium` package). One call loads a
 * page once and returns its rendered DOM (`--dump-dom`) and, optionally, a screenshot
 * of the same load (`--screenshot`).
 *
 * It is meant to run inside the integration tier's private network namespace: the
 * flags below turn off everything that would make Chromium open connections of its own
 * (background networking, component updates, sync, QUIC), so the only traffic is the
 * page the test asks for.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Where Debian puts it; TUNTCP_CHROMIUM overrides (for another distribution's path). */
export const CHROMIUM_PATHS: readonly string[] = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/** The install hint, shared by the CI error and the local skip message. */
export const CHROMIUM_HINT = 'apt-get install -y chromium';

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The Chromium binary, or null when none is installed. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | null {
  const override = env.TUNTCP_CHROMIUM;
  if (override !== undefined && override !== '') return executable(override) ? override : null;
  return CHROMIUM_PATHS.find(executable) ?? null;
}

export type ChromiumLookup = { readonly kind: 'found'; readonly binary: string } | { readonly kind: 'skip'; readonly reason: string };

/**
 * Find Chromium for a test file. Under CI=true a missing browser is a failure, never a
 * silent skip (DESIGN.md, test tiers): this throws. Otherwise it says why to skip.
 */
export function chromiumForTests(env: NodeJS.ProcessEnv = process.env): ChromiumLookup {
  const binary = findChromium(env);
  if (binary !== null) return { kind: 'found', binary };
  const where = env.TUNTCP_CHROMIUM !== undefined && env.TUNTCP_CHROMIUM !== '' ? `TUNTCP_CHROMIUM=${env.TUNTCP_CHROMIUM}` : CHROMIUM_PATHS.join(' or ');
  const reason = `headless Chromium not found (${where}); install it with: ${CHROMIUM_HINT}`;
  if (env.CI === 'true') throw new Error(`browser tests cannot run under CI=true: ${reason}`);
  return { kind: 'skip', reason };
}

export interface HeadlessOptions {
  /** Write a PNG of the loaded page here. */
  screenshot?: string;
  /** Viewport in CSS pixels, also the screenshot's size. Default 1280x2000. */
  windowSize?: readonly [number, number];
  /** Kill Chromium (its whole process group) after this long. Default 60 s. */
  timeoutMs?: number;
}

export interface HeadlessResult {
  /** Exit code, or null when it ended by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** True when the timeout fired and the test killed it. */
  readonly timedOut: boolean;
  /** The rendered DOM (serialised after the load event). */
  readonly dom: string;
  /** Chromium's log: useful in a failure message, noisy otherwise (D-Bus complaints). */
  readonly stderr: string;
  readonly argv: readonly string[];
}

/** The exact command line: the flags the browser test was specified with, plus two for containers. */
export function headlessArgs(url: string, userDataDir: string, opts: HeadlessOptions = {}): string[] {
  const [width, height] = opts.windowSize ?? [1280, 2000];
  const args = [
    '--headless',
    '--no-sandbox', // root in a namespace or container: the setuid/user-ns sandbox is unavailable
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    // Docker gives a container a 64 MB /dev/shm; Chromium crashes when it runs out.
    '--disable-dev-shm-usage',
    '--hide-scrollbars',
    `--user-data-dir=${userDataDir}`,
    `--window-size=${width},${height}`,
    '--dump-dom',
  ];
  if (opts.screenshot !== undefined) args.push(`--screenshot=${opts.screenshot}`);
  args.push(url);
  return args;
}

/** Kill a process group by its leader's pid; quiet when it is already gone. */
function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: nothing left in the group.
  }
}

/**
 * Load `url` once in headless Chromium. Never rejects for a browser failure: the result
 * says how it ended. A fresh profile directory is made for the run and removed after.
 */
export function loadInHeadlessChromium(binary: string, url: string, opts: HeadlessOptions = {}): Promise<HeadlessResult> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'tuntcp-chromium-'));
  const argv = headlessArgs(url, profile, opts);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    // Its own process group (Debian's /usr/bin/chromium is a shell script that execs the
    // browser, which then forks zygote, renderer and utility processes): on timeout the
    // test kills exactly that group, by the pid it started.
    const child = spawn(binary, argv, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let dom = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      dom += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
    }, timeoutMs);
    const finish = (): void => {
      clearTimeout(timer);
      // Leave no helper process behind even if the browser itself exited early.
      if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      rmSync(profile, { recursive: true, force: true });
    };
    child.once('error', (err) => {
      finish();
      reject(new Error(`could not start ${binary}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      finish();
      resolve({ code, signal, timedOut, dom, stderr, argv: [binary, ...argv] });
    });
  });
}

/** The PNG signature (PNG spec §5.2). */
export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Width and height from a PNG's IHDR chunk (PNG spec §11.2.2), or null if it is not a PNG. */
export function pngSize(png: Buffer): { width: number; height: number } | null {
  if (png.length < 24 || !png.subarray(0, 8).equals(PNG_SIGNATURE)) return null;
  if (png.toString('latin1', 12, 16) !== 'IHDR') return null;
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}
