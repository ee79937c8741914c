/**
 * The services `tuntcp up` runs (DESIGN.md defaults: HTTP 80, echo 7, discard 9, chargen
 * 19). A port of 0 turns a service off.
 */
import type { TcpStack } from '../socket/net';
import { CHARGEN_PORT, startChargen } from './chargen';
import { DISCARD_PORT, startDiscard } from './discard';
import { ECHO_PORT, startEcho } from './echo';
import { HTTP_PORT, HttpSiteContext, startHttpSite } from './http-site';
import type { Service } from './service';

export interface ServicePorts {
  http?: number;
  echo?: number;
  discard?: number;
  chargen?: number;
}

export const DEFAULT_SERVICE_PORTS: Readonly<Required<ServicePorts>> = {
  http: HTTP_PORT,
  echo: ECHO_PORT,
  discard: DISCARD_PORT,
  chargen: CHARGEN_PORT,
};

export interface Services {
  /** The services started, in the order http, echo, discard, chargen. */
  readonly services: readonly Service[];
  /** Resolves once every service listens; rejects with the first listen error. */
  readonly ready: Promise<void>;
  /** Close every service and its connections. */
  close(): Promise<void>;
}

/** Start the services on their ports (missing ones take the defaults; 0 = off). */
export function startServices(net: TcpStack, ports: ServicePorts = {}, ladder: HttpSiteContext['ladder'] = null): Services {
  const p = { ...DEFAULT_SERVICE_PORTS, ...ports };
  for (const [name, port] of Object.entries(p)) {
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw Object.assign(new RangeError(`${name} port must be 0 (off) or 1-65535, got ${String(port)}`), { code: 'ERR_SOCKET_BAD_PORT' });
    }
  }
  const services: Service[] = [];
  try {
    if (p.http !== 0) services.push(startHttpSite(net, p.http, ladder));
    if (p.echo !== 0) services.push(startEcho(net, p.echo));
    if (p.discard !== 0) services.push(startDiscard(net, p.discard));
    if (p.chargen !== 0) services.push(startChargen(net, p.chargen));
  } catch (e) {
    for (const s of services) void s.close();
    throw e;
  }
  const ready = Promise.all(services.map((s) => s.listening)).then(() => undefined);
  let closing: Promise<void> | null = null;
  return {
    services,
    ready,
    close(): Promise<void> {
      closing ??= Promise.all(services.map((s) => s.close())).then(() => undefined);
      return closing;
    },
  };
}

export { startChargen, chargenLines, CHARGEN_LINE_CHARS } from './chargen';
export { startDiscard } from './discard';
export { startEcho } from './echo';
export { startHttpSite, createHttpHandler, escapeHtml, BYTES_CHUNK, MAX_BYTES } from './http-site';
export type { HttpSite, HttpSiteContext } from './http-site';
export type { Service } from './service';
export { CHARGEN_PORT, DISCARD_PORT, ECHO_PORT, HTTP_PORT };
