/**
 * GET /metrics (Prometheus text format 0.0.4) and the per-connection JSON shared by
 * GET /connections, the status page and `tuntcp stats`. The exposition is checked by a
 * strict parser written here and, when the package is installed, by
 * parse-prometheus-text-format.
 */
import test from 'ava';
import { Counters, DropReason } from '../../src/counters';
import { ConnEvent, Connection } from '../../src/tcp/connection';
import { Listener, ListenerOwner } from '../../src/tcp/listener';
import { TcpState } from '../../src/tcp/state';
import { ConnectionOwner } from '../../src/tcp/tcp-layer';
import { connectionInfo, connectionInfos } from '../../src/trace/connection-info';
import { METRICS_CONTENT_TYPE, escapeLabelValue, renderMetrics } from '../../src/trace/metrics';
import { decode } from '../helpers/segments';
import { SimHost, Wire } from '../helpers/sim-host';

class App implements ConnectionOwner {
  data: Buffer[] = [];
  onConnectionEvents(c: Connection): void {
    for (let e = c.pollEvent(); e !== 0; e = c.pollEvent()) if (e === ConnEvent.READABLE) this.data.push(c.read());
  }
}

class Acceptor implements ListenerOwner {
  accepted: Connection[] = [];
  onAcceptable(l: Listener): void {
    for (let c = l.accept(); c !== null; c = l.accept()) {
      c.owner = new App();
      this.accepted.push(c);
    }
  }
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  name: string;
  help: string;
  type: string;
  samples: Sample[];
}

/**
 * A strict parser for the text format 0.0.4: every line is HELP, TYPE or a sample; HELP
 * and TYPE come once per family, before its samples; samples of a family are contiguous;
 * names and label names are valid; label values are properly quoted and escaped; no
 * series repeats; the text ends with a newline.
 */
function parseExposition(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('must end with a newline');
  const families = new Map<string, Family>();
  const series = new Set<string>();
  let current: Family | null = null;
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${line}`;
    let m: RegExpMatchArray | null;
    if ((m = /^# HELP ([^ ]+) (.*)$/.exec(line))) {
      const [, name, help] = m as unknown as [string, string, string];
      if (!NAME.test(name)) throw new Error(`bad name, ${where}`);
      if (families.has(name)) throw new Error(`second HELP, ${where}`);
      if (/\\(?![\\n])/.test(help)) throw new Error(`bad escape in HELP, ${where}`);
      current = { name, help, type: '', samples: [] };
      families.set(name, current);
      return;
    }
    if ((m = /^# TYPE ([^ ]+) (counter|gauge|histogram|summary|untyped)$/.exec(line))) {
      const [, name, type] = m as unknown as [string, string, string];
      if (current === null || current.name !== name || current.type !== '' || current.samples.length > 0) throw new Error(`TYPE out of place, ${where}`);
      current.type = type;
      return;
    }
    if (line.startsWith('#')) throw new Error(`unexpected comment, ${where}`);
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ([^ ]+)$/.exec(line);
    if (m === null) throw new Error(`not a sample, ${where}`);
    const [, name, , body, value] = m as unknown as [string, string, string | undefined, string | undefined, string];
    if (current === null || current.name !== name || current.type === '') throw new Error(`sample outside its family, ${where}`);
    const labels: Record<string, string> = {};
    if (body !== undefined && body !== '') {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
      let at = 0;
      while (at < body.length) {
        re.lastIndex = at;
        const lm = re.exec(body);
        if (lm === null) throw new Error(`bad labels, ${where}`);
        const [, k, v] = lm as unknown as [string, string, string];
        if (k in labels) throw new Error(`repeated label, ${where}`);
        labels[k] = v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
        at = re.lastIndex;
      }
    }
    if (!/^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/.test(value)) throw new Error(`bad value, ${where}`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (series.has(key)) throw new Error(`repeated series, ${where}`);
    series.add(key);
    current.samples.push({ name, labels, value: Number(value.replace('Inf', 'Infinity')) });
  });
  for (const f of families.values()) {
    if (f.type === '') throw new Error(`${f.name} has no TYPE`);
    if (f.type === 'counter' && !f.name.endsWith('_total')) throw new Error(`counter ${f.name} should end in _total`);
  }
  return families;
}

function value(fams: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const f = fams.get(name);
  if (f === undefined) throw new Error(`no family ${name}`);
  const s = f.samples.find((x) => Object.keys(labels).every((k) => x.labels[k] === labels[k]) && Object.keys(x.labels).length === Object.keys(labels).length);
  if (s === undefined) throw new Error(`no sample ${name}${JSON.stringify(labels)}`);
  return s.value;
}

/** Some traffic: two connections, one closed, a few drops. */
function traffic() {
  const a = new SimHost('10.0.0.1', { secret: 1 });
  const b = new SimHost('10.0.0.2', { secret: 2 });
  const wire = new Wire(a, b);
  const acc = new Acceptor();
  b.tcp.listen(80, acc);
  const c1 = a.tcp.connect(b.addr, 80, new App(), 0);
  const c2 = a.tcp.connect(b.addr, 80, new App(), 0);
  a.turn();
  wire.deliver();
  let n = 0;
  wire.drop = (p, fromA) => fromA && decode(p).len > 0 && n++ === 0;
  c1.send(Buffer.alloc(5000, 1));
  a.tcp.touch(c1);
  a.turn();
  wire.deliver();
  wire.settle(wire.now + 3000);
  c2.shutdown(wire.now);
  a.tcp.touch(c2);
  a.turn();
  wire.deliver();
  // A SYN to a closed port and a corrupted packet: two drops on b.
  const stray = a.tcp.connect(b.addr, 81, new App(), wire.now);
  a.turn();
  const pkts = wire.ab.splice(0);
  const bad = Buffer.from(pkts[0]!);
  bad[bad.length - 1]! ^= 0xff;
  b.link.inject(...pkts, bad);
  b.turn();
  void stray;
  return { a, b, wire, acc, c1, c2 };
}

test('renderMetrics: valid text format 0.0.4 with every family, reason and state', (t) => {
  const { b, acc } = traffic();
  const text = renderMetrics(b.counters, b.tcp.connections(), { timeWait: b.tcp.timeWaitCount });
  t.is(METRICS_CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8');
  const fams = parseExposition(text);
  for (const name of [
    'tuntcp_packets_total',
    'tuntcp_drops_total',
    'tuntcp_tcp_retransmitted_segments_total',
    'tuntcp_tcp_connections_opened_total',
    'tuntcp_tcp_connections_closed_total',
    'tuntcp_tcp_connections',
  ]) {
    t.true(fams.has(name), name);
    t.true(fams.get(name)!.help.length > 0, `${name} has HELP`);
  }
  t.is(fams.get('tuntcp_tcp_connections')!.type, 'gauge');
  t.is(fams.get('tuntcp_packets_total')!.type, 'counter');
  const c = b.counters;
  for (const [dir, layer, v] of [
    ['in', 'ip', c.ipIn],
    ['out', 'ip', c.ipOut],
    ['in', 'tcp', c.tcpIn],
    ['out', 'tcp', c.tcpOut],
    ['in', 'icmp', c.icmpIn],
    ['out', 'icmp', c.icmpOut],
  ] as const) {
    t.is(value(fams, 'tuntcp_packets_total', { direction: dir, layer }), v, `${dir} ${layer}`);
  }
  t.true(c.tcpIn > 0);
  // Every drop reason, with the counts seen.
  t.is(fams.get('tuntcp_drops_total')!.samples.length, Object.values(DropReason).length);
  for (const r of Object.values(DropReason)) t.is(value(fams, 'tuntcp_drops_total', { reason: r }), c.drops[r], r);
  t.is(value(fams, 'tuntcp_drops_total', { reason: 'tcp_no_socket' }), 1);
  t.is(value(fams, 'tuntcp_drops_total', { reason: 'tcp_bad_checksum' }), 1);
  t.is(value(fams, 'tuntcp_tcp_connections_opened_total', { side: 'passive' }), 2);
  t.is(value(fams, 'tuntcp_tcp_connections_opened_total', { side: 'active' }), 0);
  t.is(value(fams, 'tuntcp_tcp_connections_closed_total'), c.tcpConnectionsClosed);
  // States: one ESTABLISHED, one CLOSE-WAIT (the client closed); every other state at 0.
  const states = fams.get('tuntcp_tcp_connections')!.samples;
  t.is(states.length, 9);
  t.is(value(fams, 'tuntcp_tcp_connections', { state: 'ESTABLISHED' }), 1);
  t.is(value(fams, 'tuntcp_tcp_connections', { state: 'CLOSE-WAIT' }), 1);
  t.is(states.reduce((n, s) => n + s.value, 0), b.tcp.size + b.tcp.timeWaitCount);
  t.is(acc.accepted.length, 2);
  // The sender's retransmission shows on its side.
  const fa = parseExposition(renderMetrics(traffic().a.counters, []));
  t.is(value(fa, 'tuntcp_tcp_retransmitted_segments_total'), 1);
});

test('renderMetrics: TIME-WAIT records are counted, label values escaped', (t) => {
  const c = new Counters();
  c.tcpRetransmits = 7;
  const text = renderMetrics(c, [{ state: TcpState.ESTABLISHED }, { state: TcpState.TIME_WAIT }], { timeWait: 3 });
  const fams = parseExposition(text);
  t.is(value(fams, 'tuntcp_tcp_connections', { state: 'TIME-WAIT' }), 4);
  t.is(value(fams, 'tuntcp_tcp_retransmitted_segments_total'), 7);
  t.is(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
});

test('the exposition parses with parse-prometheus-text-format (when installed)', (t) => {
  type Parsed = { name: string; type: string; help: string; metrics: { value: string; labels?: Record<string, string> }[] }[];
  let parse: ((s: string) => Parsed) | null = null;
  try {
    // The package is optional here: loaded only if installed (CommonJS or an ES default export).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(require.resolve('parse-prometheus-text-format')) as ((s: string) => Parsed) | { default: (s: string) => Parsed };
    parse = typeof mod === 'function' ? mod : mod.default;
  } catch {
    if (process.env.CI === 'true') {
      t.fail('parse-prometheus-text-format is not installed (add it to devDependencies)');
      return;
    }
    t.log('SKIPPED: parse-prometheus-text-format is not installed; the strict parser above covers the format');
    t.pass();
    return;
  }
  const { b } = traffic();
  const text = renderMetrics(b.counters, b.tcp.connections(), { timeWait: b.tcp.timeWaitCount });
  const families = parse!(text);
  const mine = parseExposition(text);
  t.is(families.length, mine.size);
  for (const f of families) {
    const m = mine.get(f.name)!;
    t.truthy(m, f.name);
    t.is(f.type.toLowerCase(), m.type);
    t.is(f.metrics.length, m.samples.length);
    f.metrics.forEach((s, i) => {
      t.is(Number(s.value), m.samples[i]!.value);
      t.deepEqual(s.labels ?? {}, m.samples[i]!.labels);
    });
  }
});

test('connectionInfo: plain JSON with the 4-tuple, state, cwnd, srtt, rto, retransmits, bytes', (t) => {
  const { a, b, c1, acc } = traffic();
  const info = connectionInfo(c1);
  t.deepEqual(JSON.parse(JSON.stringify(info)), info, 'plain JSON');
  t.like(info, {
    local: `10.0.0.1:${c1.localPort}`,
    remote: '10.0.0.2:80',
    localAddr: '10.0.0.1',
    localPort: c1.localPort,
    remoteAddr: '10.0.0.2',
    remotePort: 80,
    state: TcpState.ESTABLISHED,
    passive: false,
    cc: c1.cc.name,
    cwnd: c1.cc.cwnd,
    retransmits: 1,
    bytesOut: 5000,
    bytesIn: 0,
    sndWnd: c1.sndWnd,
    rcvWnd: c1.rcvWnd,
    sendQueued: 0,
  });
  t.true(info.cwnd > 0);
  t.true(info.rto > 0);
  t.true(info.srtt === null || info.srtt >= 0);
  const server = connectionInfo(acc.accepted.find((c) => c.remotePort === c1.localPort)!);
  t.like(server, { passive: true, bytesIn: 5000, state: TcpState.ESTABLISHED, local: '10.0.0.2:80' });
  const all = connectionInfos(b.tcp.connections());
  t.is(all.length, b.tcp.size);
  t.deepEqual(
    all.map((x) => x.state).sort(),
    [TcpState.CLOSE_WAIT, TcpState.ESTABLISHED],
  );
  void a;
});
