/**
 * The control channel's client (`tuntcp stats`): find the socket of a running instance,
 * send one request line, read one reply line. Errors carry a `code` and a message meant
 * to be printed as is: ENOENT (nothing running on that device), EACCES (run as the user
 * that runs `tuntcp up`, usually with sudo), ECONNREFUSED (a stale socket), ETIMEDOUT,
 * EPROTO (a reply that is not JSON), ERR_CONTROL_REPLY (the server answered an error).
 */
import { lstatSync } from 'node:fs';
import * as net from 'node:net';
import { ControlPathOptions, controlSocketCandidates } from './paths';
import type { ControlRequest } from './server';
import type { StatsReply } from './stats';

export interface ControlTarget extends ControlPathOptions {
  /** The TUN device name (default tuntcp0). */
  dev?: string;
  /** An explicit socket path instead. */
  path?: string;
  /** Default 3000. */
  timeoutMs?: number;
}

function controlError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** The socket of the instance serving `dev`, or a printable error. */
export function findControlSocket(target: ControlTarget = {}): string {
  if (target.path !== undefined) return target.path;
  const dev = target.dev ?? 'tuntcp0';
  const candidates = controlSocketCandidates(dev, target);
  let denied: string | null = null;
  for (const p of candidates) {
    try {
      if (lstatSync(p).isSocket()) return p;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EACCES') denied ??= p;
    }
  }
  if (denied !== null) {
    throw controlError('EACCES', `permission denied reading ${denied}: run tuntcp stats as the user running tuntcp up (e.g. with sudo)`);
  }
  throw controlError('ENOENT', `no tuntcp instance on ${dev}: no control socket at ${candidates.join(', ')}`);
}

/** Send one request and resolve with the server's reply (rejecting on {"error": ...}). */
export function queryControl(target: ControlTarget, request: ControlRequest): Promise<unknown> {
  let sockPath: string;
  try {
    sockPath = findControlSocket(target);
  } catch (e) {
    return Promise.reject(e);
  }
  const timeoutMs = target.timeoutMs ?? 3000;
  return new Promise((resolve, reject) => {
    const sock = net.connect(sockPath);
    let buf = '';
    let settled = false;
    const finish = (err: Error | null, value?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err !== null) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(() => finish(controlError('ETIMEDOUT', `no reply from ${sockPath} within ${timeoutMs} ms`)), timeoutMs);
    sock.setEncoding('utf8');
    sock.once('connect', () => sock.write(`${JSON.stringify(request)}\n`));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      let reply: unknown;
      try {
        reply = JSON.parse(buf.slice(0, nl));
      } catch {
        return finish(controlError('EPROTO', `bad reply from ${sockPath}: not JSON`));
      }
      if (typeof reply === 'object' && reply !== null && typeof (reply as { error?: unknown }).error === 'string') {
        return finish(controlError('ERR_CONTROL_REPLY', `tuntcp: ${(reply as { error: string }).error}`));
      }
      finish(null, reply);
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED') return finish(controlError('ECONNREFUSED', `nothing answers on ${sockPath} (a stale socket: is tuntcp still running?)`));
      if (e.code === 'EACCES') return finish(controlError('EACCES', `permission denied on ${sockPath}: run as the user running tuntcp up (e.g. with sudo)`));
      if (e.code === 'ENOENT') return finish(controlError('ENOENT', `no control socket at ${sockPath}`));
      finish(controlError(e.code ?? 'EIO', `${sockPath}: ${e.message}`));
    });
    sock.on('close', () => finish(controlError('EPROTO', `${sockPath} closed the connection without a reply`)));
  });
}

/** The running instance's connection table and counters. */
export async function fetchStats(target: ControlTarget = {}): Promise<StatsReply> {
  const reply = (await queryControl(target, { cmd: 'stats' })) as StatsReply;
  if (typeof reply !== 'object' || reply === null || !Array.isArray(reply.connections)) {
    throw controlError('EPROTO', 'bad stats reply: no connections array');
  }
  return reply;
}
