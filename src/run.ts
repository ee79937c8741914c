/**
 * From parsed CLI flags to a running stack (create-stack.ts does the work).
 */
import { ParsedFlags, UsageError } from './cli-options';
import { Services, startServices } from './apps';
import { ConfigError, CreateStackOptions, TuntcpStack, createStack } from './create-stack';

let traceToStderr = false;

/** `tuntcp connect` keeps stdout for the connection's data: the ladder goes to stderr. */
export function traceOnStderr(): void {
  traceToStderr = true;
}

function traceStream(): NodeJS.WriteStream {
  return traceToStderr ? process.stderr : process.stdout;
}

function traceOut(line: string): void {
  traceStream().write(`${line}\n`);
}

/** `extra` adds what flags do not say (a worker's queue role). */
export function openStack(flags: ParsedFlags, extra: Partial<CreateStackOptions> = {}): TuntcpStack {
  try {
    return createStack({
      ...extra,
      dev: String(flags.dev),
      hostAddr: String(flags['host-addr']),
      addr: String(flags.addr),
      mtu: Number(flags.mtu),
      offload: flags.offload === 'on',
      isnSecret: flags['isn-secret'] === undefined ? undefined : String(flags['isn-secret']),
      tcp: { msl: Number(flags.msl) * 1000, minRto: Number(flags['rto-min']), delayedAck: Number(flags['delayed-ack']), initialWindow: Number(flags['initial-window']) },
      pcap: flags.pcap === undefined ? undefined : String(flags.pcap),
      impair: flags.impair === undefined ? undefined : String(flags.impair),
      cc: String(flags.cc),
      // Ladders for the status page always; printed live with --trace (on stderr when
      // stdout carries a connection's data, as in tuntcp connect).
      ladder:
        flags['no-ladders'] === true && flags.trace !== true
          ? false
          : { onLine: flags.trace === true ? traceOut : undefined, color: flags.trace === true && traceStream().isTTY === true },
    });
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message);
    throw e;
  }
}

/** Start the services on the ports the flags name (`tuntcp up`, and each worker's stack). */
export function startFlaggedServices(stack: TuntcpStack, flags: ParsedFlags): Services {
  return startServices(stack, { http: Number(flags.http), echo: Number(flags.echo), discard: Number(flags.discard), chargen: Number(flags.chargen) }, stack.ladder);
}
