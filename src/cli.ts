#!/usr/bin/env node
/**
 * The `tuntcp` command: argument parsing and wiring, nothing else. Errors are one line on
 * stderr and a non-zero exit (DESIGN.md, CLI contract).
 */
import { Command, FLAGS, ParsedFlags, UsageError, helpText, parseFlags } from './cli-options';
import { openStack, RunningStack } from './run';

const COMMANDS: readonly Command[] = ['up', 'connect'];

function mainHelp(): string {
  return [
    'usage: tuntcp <command> [flags]',
    '',
    'commands:',
    '  up                    create the TUN device and run the stack and its services',
    '  connect HOST PORT     open a TCP connection from the stack, like nc',
    '',
    "run 'tuntcp <command> --help' for the command's flags",
    '',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(mainHelp());
    return cmd === undefined ? 2 : 0;
  }
  if (!(COMMANDS as readonly string[]).includes(cmd)) throw new UsageError(`unknown command '${cmd}' (try tuntcp --help)`);
  const command = cmd as Command;
  const { flags, positional } = parseFlags(command, rest);
  if (flags.help === true) {
    process.stdout.write(helpText(command));
    return 0;
  }
  switch (command) {
    case 'up':
      if (positional.length > 0) throw new UsageError(`unexpected argument '${positional[0]}' for 'tuntcp up'`);
      return up(flags);
    case 'connect':
      throw new UsageError("'tuntcp connect' is not built yet");
  }
}

async function up(flags: ParsedFlags): Promise<number> {
  const running = openStack(flags);
  process.stdout.write(`tuntcp ready: ${running.describe()}\n`);
  return waitForSignal(running);
}

function waitForSignal(running: RunningStack): Promise<number> {
  return new Promise((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      running.close();
      resolve(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as { message?: string };
    process.stderr.write(`tuntcp: ${e.message ?? String(err)}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);

export { FLAGS };
