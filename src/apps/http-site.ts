/**
 * The HTTP site (DESIGN.md "HTTP site contract"), served by Node's own `http` module over
 * tuntcp sockets: the http.Server never listens on the kernel; each tuntcp connection is
 * handed to it with `emit('connection', socket)`.
 *
 *   GET /             HTML status page: live connections and their state
 *   GET /bytes/N      exactly N bytes (Content-Length: N), streamed with backpressure
 *   PUT|POST /upload  consumes the body; JSON {"bytes":N,"sha256":"hex"}
 *   GET /connections  JSON: one object per connection
 *
 * HEAD is answered for the GET routes; other methods get 405 with Allow; unknown paths 404.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { Stack } from '../stack';
import type { TcpLayer } from '../tcp/tcp-layer';
import { connectionInfos } from '../trace/connection-info';
import type { ConnectionLadder } from '../trace/ladder';
import { METRICS_CONTENT_TYPE, renderMetrics } from '../trace/metrics';
import { renderLadderSvg } from '../trace/svg';
import type { TcpStack } from '../socket/net';
import { ipv4ToString } from '../wire/ipv4';
import { Service, startService } from './service';

export const HTTP_PORT = 80;

/** Largest N for GET /bytes/N: 10 GiB, plenty for a benchmark, and a bound on a typo. */
export const MAX_BYTES = 10 * 1024 ** 3;

/**
 * The body of GET /bytes/N: byte k of the response is k mod 256. The chunk is a multiple
 * of 256 bytes, so writing it again and again keeps that true; a client can check any byte.
 */
export const BYTES_CHUNK: Buffer = (() => {
  const b = Buffer.allocUnsafe(64 * 1024);
  for (let i = 0; i < b.length; i++) b[i] = i & 0xff;
  return b;
})();

/** What the site reads: the stack, its TCP layer, and (optionally) recent ladder diagrams. */
export interface HttpSiteContext {
  readonly stack: Stack;
  readonly tcp: TcpLayer;
  /** Recent connections' ladders for the status page (the stack's LadderTracer), if any. */
  readonly ladder?: { recent(): readonly ConnectionLadder[] } | null;
}

/** How many recent ladders the status page shows. */
const LADDERS_ON_PAGE = 5;

/** The request handler, usable with any http.Server. */
export function createHttpHandler(ctx: HttpSiteContext): http.RequestListener {
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    const isGet = method === 'GET' || method === 'HEAD';

    if (path === '/' || path === '/connections' || path === '/metrics') {
      if (!isGet) return methodNotAllowed(req, res, 'GET, HEAD');
      if (path === '/') return sendBody(req, res, 200, 'text/html; charset=utf-8', statusPage(ctx));
      if (path === '/metrics') return sendBody(req, res, 200, METRICS_CONTENT_TYPE, renderMetrics(ctx.stack.counters, ctx.tcp.connections(), { timeWait: ctx.tcp.timeWaitCount }));
      return sendBody(req, res, 200, 'application/json', `${JSON.stringify(connectionInfos(ctx.tcp.connections()))}\n`);
    }
    if (path.startsWith('/bytes/')) {
      if (!isGet) return methodNotAllowed(req, res, 'GET, HEAD');
      const raw = path.slice('/bytes/'.length);
      const n = /^[0-9]{1,12}$/.test(raw) ? Number(raw) : NaN;
      if (!(n >= 0 && n <= MAX_BYTES)) {
        return sendBody(req, res, 400, 'text/plain; charset=utf-8', `bad byte count '${truncate(raw)}': expected an integer from 0 to ${MAX_BYTES}\n`);
      }
      return sendBytes(req, res, n);
    }
    if (path === '/upload') {
      if (method !== 'PUT' && method !== 'POST') return methodNotAllowed(req, res, 'PUT, POST');
      return receiveUpload(req, res);
    }
    return sendBody(req, res, 404, 'text/plain; charset=utf-8', `not found: ${truncate(path)}\n`);
  };
}

function truncate(s: string): string {
  return s.length > 100 ? `${s.slice(0, 100)}...` : s;
}

function sendBody(req: http.IncomingMessage, res: http.ServerResponse, status: number, type: string, body: string): void {
  const buf = Buffer.from(body, 'utf8');
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': buf.length, 'Cache-Control': 'no-store' });
  if (req.method === 'HEAD') res.end();
  else res.end(buf);
}

function methodNotAllowed(req: http.IncomingMessage, res: http.ServerResponse, allow: string): void {
  res.setHeader('Allow', allow);
  // The body (if any) is not wanted; read it anyway so a keep-alive connection stays usable.
  req.resume();
  sendBody(req, res, 405, 'text/plain; charset=utf-8', `method ${req.method ?? ''} not allowed; use ${allow}\n`);
}

/** GET /bytes/N: the pattern, chunk after chunk, waiting for 'drain' whenever write() says so. */
function sendBytes(req: http.IncomingMessage, res: http.ServerResponse, n: number): void {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': n, 'Cache-Control': 'no-store' });
  // HEAD: http drops the body of a HEAD response, and write() would return true forever.
  if (req.method === 'HEAD' || n === 0) {
    res.end();
    return;
  }
  let left = n;
  let stopped = false;
  const stop = (): void => {
    stopped = true;
    res.off('drain', pump);
  };
  // The client went away before the end: stop generating.
  res.once('close', stop);
  function pump(): void {
    while (!stopped && left > 0) {
      const len = Math.min(left, BYTES_CHUNK.length);
      left -= len;
      const ok = res.write(len === BYTES_CHUNK.length ? BYTES_CHUNK : BYTES_CHUNK.subarray(0, len));
      if (left === 0) {
        stopped = true;
        res.end();
        return;
      }
      if (!ok) {
        res.once('drain', pump);
        return;
      }
    }
  }
  pump();
}

/** PUT/POST /upload: count and hash the body as it streams in. */
function receiveUpload(req: http.IncomingMessage, res: http.ServerResponse): void {
  const hash = createHash('sha256');
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  req.on('end', () => {
    sendBody(req, res, 200, 'application/json', `${JSON.stringify({ bytes, sha256: hash.digest('hex') })}\n`);
  });
  // An aborted upload: the socket is gone, nothing to answer.
  req.on('error', () => undefined);
}

/** HTML-escape text for element content and quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => {
    switch (ch) {
      case '&':
        return '&amp;';
      case '<':
        return '&lt;';
      case '>':
        return '&gt;';
      case '"':
        return '&quot;';
      default:
        return '&#39;';
    }
  });
}

function fmtMs(x: number | null): string {
  return x === null ? '-' : x.toFixed(1);
}

function statusPage(ctx: HttpSiteContext): string {
  const conns = connectionInfos(ctx.tcp.connections());
  const k = ctx.stack.counters;
  const rows = conns
    .map((c) =>
      [
        c.local,
        c.remote,
        c.state,
        String(c.cwnd),
        fmtMs(c.srtt),
        fmtMs(c.rto),
        String(c.retransmits),
        String(c.bytesIn),
        String(c.bytesOut),
      ]
        .map((cell) => `<td>${escapeHtml(cell)}</td>`)
        .join(''),
    )
    .map((r) => `<tr>${r}</tr>`)
    .join('\n');
  const header = ['local', 'remote', 'state', 'cwnd', 'srtt (ms)', 'rto (ms)', 'retransmits', 'bytes in', 'bytes out']
    .map((h) => `<th>${escapeHtml(h)}</th>`)
    .join('');
  const addr = escapeHtml(ipv4ToString(ctx.tcp.address));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="2">
<title>tuntcp ${addr}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f4f4f4; }
td:nth-child(-n+3) { text-align: left; font-family: monospace; }
figure { margin: 1.5em 0; overflow-x: auto; }
figcaption { font-family: monospace; margin-bottom: 0.4em; }
</style>
</head>
<body>
<h1>tuntcp at ${addr}</h1>
<p>${conns.length} live connection${conns.length === 1 ? '' : 's'}, ${ctx.tcp.timeWaitCount} in TIME-WAIT.
Segments in ${k.tcpIn}, out ${k.tcpOut}, retransmitted ${k.tcpRetransmits}; packets dropped ${k.totalDrops}.</p>
<table>
<thead><tr>${header}</tr></thead>
<tbody>
${rows}
</tbody>
</table>
${laddersSection(ctx)}
<p><a href="/connections">/connections</a> (JSON) · <a href="/metrics">/metrics</a> (Prometheus) · <a href="/bytes/1048576">/bytes/1048576</a> · PUT or POST /upload</p>
</body>
</html>
`;
}

/**
 * A ladder's SVG, rendered again only when the ladder has changed: the page refreshes
 * every 2 s, and a finished connection's diagram never changes.
 */
const svgCache = new WeakMap<ConnectionLadder, { events: number; state: string | null; svg: string }>();

function ladderSvg(l: ConnectionLadder): string {
  const hit = svgCache.get(l);
  if (hit !== undefined && hit.events === l.events.length + l.omitted && hit.state === l.localState) return hit.svg;
  const svg = renderLadderSvg(trimmed(l));
  svgCache.set(l, { events: l.events.length + l.omitted, state: l.localState, svg });
  return svg;
}

/** Segments drawn per ladder on the page: the opening and the latest, the middle elided. */
const PAGE_LADDER_EVENTS = 120;

/** A long-lived connection's ladder cut to its first and last events for the page. */
function trimmed(l: ConnectionLadder): ConnectionLadder {
  const n = l.events.length;
  if (n <= PAGE_LADDER_EVENTS) return l;
  const half = PAGE_LADDER_EVENTS >> 1;
  const snapshot = 'toJSON' in l ? (l as { toJSON(): ConnectionLadder }).toJSON() : l;
  return { ...snapshot, events: [...l.events.slice(0, half), ...l.events.slice(n - half)], omitted: l.omitted + (n - 2 * half), omittedAt: half };
}

/** The newest recent connections' ladder diagrams, as inline SVG, newest first. */
function laddersSection(ctx: HttpSiteContext): string {
  const recent = ctx.ladder?.recent() ?? [];
  if (recent.length === 0) return '';
  const figures = recent
    .slice(-LADDERS_ON_PAGE)
    .reverse()
    .map((l) => `<figure>\n<figcaption>${escapeHtml(`#${l.id} ${l.remote} → ${l.local}${l.teardown === null ? '' : `, ${l.teardown} teardown`}`)}</figcaption>\n${ladderSvg(l)}\n</figure>`)
    .join('\n');
  return `<h2>Recent connections</h2>\n${figures}`;
}

export interface HttpSite extends Service {
  /** The Node http.Server the connections are handed to (it never listens itself). */
  readonly http: http.Server;
}

/** Serve the site on `port` of the stack. */
export function startHttpSite(net: TcpStack, port: number = HTTP_PORT, ladder: HttpSiteContext['ladder'] = null): HttpSite {
  const server = http.createServer(createHttpHandler({ stack: net.stack, tcp: net.tcp, ladder }));
  // net.Server under Node's http is half-open (http decides when to end its side).
  const service = startService(net, 'http', port, { allowHalfOpen: true, noDelay: true }, (socket) => {
    server.emit('connection', socket);
  });
  return Object.assign(service, { http: server });
}
