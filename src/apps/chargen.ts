/**
 * Character generator (RFC 864), TCP variant: "Once a connection is established the
 * server sends a stream of data. Any data received is discarded. The server continues
 * sending data until the calling user terminates the connection."
 *
 * The data is the RFC's suggested pattern: lines of 72 characters from the 95 printable
 * ASCII characters (32 ' ' to 126 '~'), each line starting one character later than the
 * one before, ending in CR LF. The pattern repeats every 95 lines; we keep a chunk of
 * whole cycles and write it with backpressure, so a slow reader is never buffered for.
 */
import type { TcpStack } from '../socket/net';
import type { Socket } from '../socket/socket';
import { Service, startService } from './service';

/** RFC 864: the well-known port. */
export const CHARGEN_PORT = 19;
/** RFC 864: "72 chars per line". */
export const CHARGEN_LINE_CHARS = 72;
/** RFC 864: the 95 printable ASCII characters, codes 32 to 126. */
const FIRST = 32;
const PRINTABLE = 95;
/** A line on the wire: 72 characters and CR LF. */
const LINE_BYTES = CHARGEN_LINE_CHARS + 2;
/** Whole 95-line cycles per chunk: 9 × 7030 = 63270 bytes, just under 64 KiB. */
const CYCLES_PER_CHUNK = 9;

/** The first `lines` lines of the RFC 864 pattern (line 0 starts with ' '). */
export function chargenLines(lines: number, startLine = 0): Buffer {
  const buf = Buffer.allocUnsafe(lines * LINE_BYTES);
  for (let i = 0; i < lines; i++) {
    const base = i * LINE_BYTES;
    const first = (startLine + i) % PRINTABLE;
    for (let j = 0; j < CHARGEN_LINE_CHARS; j++) buf[base + j] = FIRST + ((first + j) % PRINTABLE);
    buf[base + CHARGEN_LINE_CHARS] = 0x0d;
    buf[base + CHARGEN_LINE_CHARS + 1] = 0x0a;
  }
  return buf;
}

const CHUNK = chargenLines(PRINTABLE * CYCLES_PER_CHUNK);

export function startChargen(net: TcpStack, port: number = CHARGEN_PORT): Service {
  return startService(net, 'chargen', port, {}, (socket) => {
    socket.on('error', () => undefined);
    // "Any data received is discarded."
    socket.resume();
    generate(socket);
  });
}

/** Write the pattern until the peer closes: on its FIN we stop (and end our side too). */
function generate(socket: Socket): void {
  let stopped = false;
  const stop = (): void => {
    stopped = true;
    socket.off('drain', pump);
  };
  socket.once('end', stop);
  socket.once('close', stop);
  function pump(): void {
    while (!stopped && socket.writable) {
      if (!socket.write(CHUNK)) {
        socket.once('drain', pump);
        return;
      }
    }
  }
  pump();
}
