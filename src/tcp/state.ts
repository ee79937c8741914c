/** Connection states, spelled as in RFC 9293 §3.3.2. */
export const TcpState = {
  CLOSED: 'CLOSED',
  LISTEN: 'LISTEN',
  SYN_SENT: 'SYN-SENT',
  SYN_RECEIVED: 'SYN-RECEIVED',
  ESTABLISHED: 'ESTABLISHED',
  FIN_WAIT_1: 'FIN-WAIT-1',
  FIN_WAIT_2: 'FIN-WAIT-2',
  CLOSE_WAIT: 'CLOSE-WAIT',
  CLOSING: 'CLOSING',
  LAST_ACK: 'LAST-ACK',
  TIME_WAIT: 'TIME-WAIT',
} as const;
export type TcpState = (typeof TcpState)[keyof typeof TcpState];

/**
 * RFC 9293 §3.3.2: "synchronized" states are those after the handshake; the RFC's rules
 * for RST, SYN and unacceptable segments differ between them and the rest.
 */
export function isSynchronized(s: TcpState): boolean {
  return s !== TcpState.CLOSED && s !== TcpState.LISTEN && s !== TcpState.SYN_SENT && s !== TcpState.SYN_RECEIVED;
}

/** States in which our FIN has been sent or queued (the application closed its side). */
export function hasClosedSend(s: TcpState): boolean {
  return s === TcpState.FIN_WAIT_1 || s === TcpState.FIN_WAIT_2 || s === TcpState.CLOSING || s === TcpState.LAST_ACK || s === TcpState.TIME_WAIT;
}
