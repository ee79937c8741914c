/**
 * From parsed CLI flags to a running stack (create-stack.ts does the work).
 */
import { ParsedFlags, UsageError } from './cli-options';
import { ConfigError, TuntcpStack, createStack } from './create-stack';

export function openStack(flags: ParsedFlags): TuntcpStack {
  try {
    return createStack({
      dev: String(flags.dev),
      hostAddr: String(flags['host-addr']),
      addr: String(flags.addr),
      mtu: Number(flags.mtu),
      isnSecret: flags['isn-secret'] === undefined ? undefined : String(flags['isn-secret']),
      tcp: { msl: Number(flags.msl) * 1000 },
    });
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message);
    throw e;
  }
}
