/**
 * Every command-line flag, declared once. The parser, `--help` and the README's CLI
 * reference are all generated from this table, so they cannot drift apart.
 */
import { parseCidr, parseIpv4 } from './wire/ipv4';

export type Command = 'up' | 'connect' | 'stats';

export type FlagType = 'string' | 'file' | 'boolean' | 'port' | 'int' | 'seconds' | 'ipv4' | 'cidr' | 'hex' | 'onoff';

export interface FlagSpec {
  readonly name: string;
  readonly type: FlagType;
  /** Shown in help; `undefined` means "off / not set". */
  readonly default: string | number | boolean | undefined;
  readonly help: string;
  readonly commands: readonly Command[];
  /** For 'int': inclusive bounds. */
  readonly min?: number;
  readonly max?: number;
}

const BOTH: readonly Command[] = ['up', 'connect'];
const ALL: readonly Command[] = ['up', 'connect', 'stats'];

export const FLAGS: readonly FlagSpec[] = [
  { name: 'dev', type: 'string', default: 'tuntcp0', help: 'TUN device name (at most 15 characters); for stats, the instance to ask', commands: ALL },
  { name: 'host-addr', type: 'cidr', default: '10.77.0.1/24', help: "the kernel's side of the tunnel, with its prefix", commands: BOTH },
  { name: 'addr', type: 'ipv4', default: '10.77.0.2', help: "the stack's own address (inside the host-addr subnet)", commands: BOTH },
  { name: 'mtu', type: 'int', default: 1500, min: 576, max: 65535, help: 'link MTU in bytes; the TCP MSS is MTU - 40', commands: BOTH },
  { name: 'http', type: 'port', default: 80, help: 'HTTP site port (0 turns it off)', commands: ['up'] },
  { name: 'echo', type: 'port', default: 7, help: 'echo service port, RFC 862 (0 turns it off)', commands: ['up'] },
  { name: 'discard', type: 'port', default: 9, help: 'discard service port, RFC 863 (0 turns it off)', commands: ['up'] },
  { name: 'chargen', type: 'port', default: 19, help: 'chargen service port, RFC 864 (0 turns it off)', commands: ['up'] },
  { name: 'offload', type: 'onoff', default: 'off', help: 'TUN offloads (virtio-net header): checksums and 64 KiB TCP segments (TSO/GRO) cross the device', commands: BOTH },
  { name: 'workers', type: 'int', default: 1, min: 1, max: 64, help: 'worker threads, each serving one queue of a multi-queue TUN device (the kernel spreads flows over them)', commands: ['up'] },
  { name: 'cc', type: 'string', default: 'newreno', help: 'congestion control: newreno (RFC 5681/6582) or cubic (RFC 9438)', commands: BOTH },
  { name: 'rto-min', type: 'int', default: 200, min: 1, max: 60000, help: 'lower bound on the retransmission timeout, ms (RFC 6298 says 1000; Linux uses 200)', commands: BOTH },
  { name: 'delayed-ack', type: 'int', default: 40, min: 0, max: 200, help: 'delayed-ACK timeout, ms (at most 200, as in Linux; RFC 1122 allows 500)', commands: BOTH },
  { name: 'initial-window', type: 'int', default: 10, min: 1, max: 100, help: 'initial congestion window in segments (RFC 6928)', commands: BOTH },
  { name: 'isn-secret', type: 'hex', default: undefined, help: 'ISN secret key, at least 16 bytes of hex (RFC 6528); random per process when unset', commands: BOTH },
  { name: 'msl', type: 'seconds', default: 30, help: 'maximum segment lifetime in seconds; TIME-WAIT lasts 2 x MSL', commands: BOTH },
  { name: 'pcap', type: 'file', default: undefined, help: 'write every packet in and out to FILE (pcap, raw IP; open it with Wireshark)', commands: BOTH },
  { name: 'trace', type: 'boolean', default: false, help: 'print each connection live as a ladder diagram (seq/ack, flags, states)', commands: BOTH },
  { name: 'no-ladders', type: 'boolean', default: false, help: 'keep no ladder diagrams for the status page (no per-segment tracing cost; --trace still traces)', commands: ['up'] },
  { name: 'impair', type: 'string', default: undefined, help: 'impair the link both ways: loss=5%,reorder=2%,dup=1%,corrupt=0.5%,delay=10ms,jitter=5ms,seed=N', commands: BOTH },
  { name: 'json', type: 'boolean', default: false, help: 'machine-readable JSON instead of a table', commands: ['stats'] },
  { name: 'help', type: 'boolean', default: false, help: 'show this help', commands: ALL },
];

export type ParsedFlags = Record<string, string | number | boolean | undefined>;

export class UsageError extends Error {
  readonly code = 'EUSAGE';
}

/** Parse `argv` (after the command name) for `command`; positional arguments are returned apart. */
export function parseFlags(command: Command, argv: readonly string[]): { flags: ParsedFlags; positional: string[] } {
  const specs = FLAGS.filter((f) => f.commands.includes(command));
  const flags: ParsedFlags = {};
  for (const f of specs) flags[f.name] = f.default;
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = specs.find((f) => f.name === name);
    if (spec === undefined) throw new UsageError(`unknown flag --${name} for 'tuntcp ${command}' (see tuntcp ${command} --help)`);
    if (spec.type === 'boolean') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      flags[name] = true;
      continue;
    }
    let value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    flags[name] = convert(spec, value);
  }
  return { flags, positional };
}

function convert(spec: FlagSpec, value: string): string | number {
  const bad = (what: string): never => {
    throw new UsageError(`--${spec.name}: ${JSON.stringify(value)} is not ${what}`);
  };
  switch (spec.type) {
    case 'string':
    case 'file':
      if (value === '') bad('empty');
      return value;
    case 'port': {
      if (!/^\d+$/.test(value) || Number(value) > 65535) bad('a port number (0-65535)');
      return Number(value);
    }
    case 'int': {
      if (!/^\d+$/.test(value)) bad('a whole number');
      const n = Number(value);
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) bad(`between ${spec.min} and ${spec.max}`);
      return n;
    }
    case 'seconds': {
      if (!/^\d+(\.\d+)?$/.test(value) || Number(value) > 86400) bad('a number of seconds (0-86400)');
      return Number(value);
    }
    case 'ipv4':
      if (parseIpv4(value) === null) bad('an IPv4 address like 10.77.0.2');
      return value;
    case 'cidr':
      if (parseCidr(value) === null) bad('an IPv4 address with a prefix, like 10.77.0.1/24');
      return value;
    case 'hex':
      if (!/^([0-9a-fA-F]{2})+$/.test(value)) bad('hexadecimal bytes');
      return value;
    case 'onoff':
      if (value !== 'on' && value !== 'off') bad('on or off');
      return value;
    case 'boolean':
      return value;
  }
}

/** The placeholder shown after a flag in help and docs (`--mtu N`). */
export function metavar(f: FlagSpec): string {
  if (f.name === 'impair') return 'SPEC';
  if (f.name === 'cc') return 'NAME';
  const names: Record<FlagType, string> = { string: 'NAME', file: 'FILE', boolean: '', port: 'PORT', int: 'N', seconds: 'SECONDS', ipv4: 'IP', cidr: 'CIDR', hex: 'HEX', onoff: 'on|off' };
  return names[f.type];
}

export function helpText(command: Command): string {
  const specs = FLAGS.filter((f) => f.commands.includes(command));
  const usage = command === 'up' ? 'tuntcp up [flags]' : command === 'connect' ? 'tuntcp connect HOST PORT [flags]' : 'tuntcp stats [flags]';
  const rows = specs.map((f) => {
    const left = `  --${f.name}${f.type === 'boolean' ? '' : ` ${metavar(f)}`}`;
    const def = f.default === undefined || f.default === false ? '' : ` (default: ${f.default})`;
    return `${left.padEnd(24)}${f.help}${def}`;
  });
  return `usage: ${usage}\n\n${rows.join('\n')}\n`;
}
