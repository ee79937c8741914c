/**
 * One error factory for the socket layer, with the codes, errno values, syscall names and
 * messages Node's `net` uses, so code written against `net` recognises our failures.
 */
import { constants } from 'node:os';

/** An error shaped like the ones Node's net module raises (`err.code`, `err.errno`, `err.syscall`). */
export interface NetError extends Error {
  code: string;
  errno?: number;
  syscall?: string;
  address?: string;
  port?: number;
}

function withCode(err: Error, code: string): NetError {
  return Object.assign(err, { code });
}

/**
 * A system error as libuv reports it: `errno` is the negated Linux errno (ECONNREFUSED is
 * -111), the message is `syscall CODE` and, for connect, ` address:port`.
 */
export function systemError(code: string, syscall: string, address?: string, port?: number): NetError {
  const n = (constants.errno as Record<string, number | undefined>)[code];
  const where = address !== undefined ? ` ${address}${port !== undefined ? `:${port}` : ''}` : '';
  const err = withCode(new Error(`${syscall} ${code}${where}`), code);
  if (n !== undefined) err.errno = -n;
  err.syscall = syscall;
  if (address !== undefined) err.address = address;
  if (port !== undefined) err.port = port;
  return err;
}

/** Node's ERR_INVALID_ARG_VALUE: a TypeError naming the argument and the value received. */
export function invalidArgValue(name: string, value: unknown, reason: string): NetError {
  return withCode(new TypeError(`The argument '${name}' ${reason}. Received ${describe(value)}`), 'ERR_INVALID_ARG_VALUE');
}

/** Node's ERR_INVALID_ARG_TYPE. */
export function invalidArgType(name: string, expected: string, value: unknown): NetError {
  return withCode(new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(value)}`), 'ERR_INVALID_ARG_TYPE');
}

/** Node's ERR_SOCKET_BAD_PORT. */
export function badPort(name: string, value: unknown, allowZero: boolean): NetError {
  const low = allowZero ? '>= 0' : '> 0';
  return withCode(new RangeError(`${name} should be ${low} and < 65536. Received ${describe(value)}.`), 'ERR_SOCKET_BAD_PORT');
}

/** Node's ERR_SERVER_ALREADY_LISTEN, ERR_SERVER_NOT_RUNNING, ERR_SOCKET_CLOSED, ... */
export function nodeError(code: string, message: string): NetError {
  return withCode(new Error(message), code);
}

function describe(v: unknown): string {
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}...` : v}'`;
  if (typeof v === 'number') return `type number (${v})`;
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  return `type ${typeof v}`;
}
