/**
 * Where the control socket lives. For device NAME, the first of:
 *
 *   1. /run/tuntcp/NAME.sock              (root, the usual `sudo tuntcp up`)
 *   2. $XDG_RUNTIME_DIR/tuntcp/NAME.sock  (when /run is not writable)
 *   3. /tmp/tuntcp-UID/NAME.sock          (no XDG_RUNTIME_DIR either)
 *
 * The server creates the directory with mode 0700 and uses the first one it can; the
 * client looks for an existing socket in the same order. A 0700 directory means only the
 * user that runs `tuntcp up` (usually root) can ask it for stats: run `sudo tuntcp stats`.
 */
import { accessSync, constants, lstatSync, mkdirSync, chmodSync } from 'node:fs';
import * as path from 'node:path';

export const RUN_DIR = '/run/tuntcp';

/** sockaddr_un.sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;

export interface ControlPathOptions {
  /** Replaces /run/tuntcp (tests). */
  runDir?: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
}

/** A device name usable as a file name: what Linux accepts for an interface (IFNAMSIZ 16). */
export function checkDeviceName(dev: string): void {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(dev) || dev === '.' || dev === '..') {
    throw Object.assign(new Error(`bad device name ${JSON.stringify(dev)}: 1-15 letters, digits, '.', '_' or '-'`), { code: 'EINVAL' });
  }
}

/** The candidate directories, in order. */
export function controlDirs(opts: ControlPathOptions = {}): string[] {
  const env = opts.env ?? process.env;
  const uid = opts.uid ?? process.getuid?.() ?? 0;
  const dirs = [opts.runDir ?? RUN_DIR];
  const xdg = env.XDG_RUNTIME_DIR;
  if (xdg !== undefined && xdg !== '' && path.isAbsolute(xdg)) dirs.push(path.join(xdg, 'tuntcp'));
  dirs.push(`/tmp/tuntcp-${uid}`);
  return dirs;
}

/** The candidate socket paths for `dev`, in order. */
export function controlSocketCandidates(dev: string, opts: ControlPathOptions = {}): string[] {
  checkDeviceName(dev);
  return controlDirs(opts).map((d) => path.join(d, `${dev}.sock`));
}

/**
 * Make (or reuse) the first usable directory, mode 0700, and return the socket path in
 * it. A directory we do not own, or that others can write to, is refused (someone else's
 * /tmp/tuntcp-UID must not capture our socket).
 */
export function prepareControlSocketPath(dev: string, opts: ControlPathOptions = {}): string {
  checkDeviceName(dev);
  const uid = opts.uid ?? process.getuid?.() ?? 0;
  const problems: string[] = [];
  for (const dir of controlDirs(opts)) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const st = lstatSync(dir);
      if (!st.isDirectory()) throw new Error('not a directory');
      if (st.uid !== uid) throw new Error(`owned by uid ${st.uid}, not ${uid}`);
      if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
      accessSync(dir, constants.W_OK | constants.X_OK);
      const p = path.join(dir, `${dev}.sock`);
      if (Buffer.byteLength(p) > MAX_SOCKET_PATH) throw new Error(`socket path longer than ${MAX_SOCKET_PATH} bytes`);
      return p;
    } catch (e) {
      problems.push(`${dir}: ${(e as Error).message}`);
    }
  }
  throw Object.assign(new Error(`no usable directory for the control socket (${problems.join('; ')})`), { code: 'EACCES' });
}
