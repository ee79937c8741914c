/**
 * Text rendering of a connection ladder: a two-column sequence diagram, one line per
 * segment, as a terminal shows it.
 *
 *       ms  10.0.0.1:40000 (client)                                        10.0.0.2:80 (server, tuntcp)
 *    0.000  SYN-SENT     ──SYN seq=0 len=0 win=65535 ─────────────────────▶ SYN-RECEIVED  handshake 1/3 …
 *    0.000  ESTABLISHED  ◀──SYN,ACK seq=0 ack=1 len=0 win=65535 ──────────── SYN-RECEIVED  handshake 2/3 …
 *
 * Each line: time since the connection's first event (ms), the left side's state after
 * the segment, the arrow with flags and seq/ack RELATIVE to each side's ISN, length and
 * window (scaled), the right side's state, the label and marks, then the ABSOLUTE
 * numbers in brackets. The state of the side that is not tuntcp is inferred (ladder.ts).
 */
import type { TcpState } from '../tcp/state';
import { TcpFlag, flagsToString } from '../wire/tcp';
import type { ConnectionLadder, LadderEvent, LadderSegment, Side } from './ladder';

export interface LadderTextOptions {
  /** ANSI colours (default false). */
  color?: boolean;
  /** Width of the arrow column (default 52); longer labels stretch their arrow. */
  arrowWidth?: number;
  /** Text before every line (live mode uses "#id "). */
  prefix?: string;
}

const TIME_W = 10;
const STATE_W = 12;
const DEFAULT_ARROW_W = 52;

const ANSI = {
  reset: '\x1b[0m',
  bold: '\x1b[1m',
  dim: '\x1b[2m',
  red: '\x1b[31m',
  green: '\x1b[32m',
  yellow: '\x1b[33m',
  blue: '\x1b[34m',
  magenta: '\x1b[35m',
  cyan: '\x1b[36m',
} as const;

function paint(on: boolean, codes: string, s: string): string {
  return on && s.length > 0 ? `${codes}${s}${ANSI.reset}` : s;
}

function stateText(s: TcpState | null): string {
  return s ?? '—';
}

function roleOf(l: ConnectionLadder, side: Side): string {
  const parts: string[] = [];
  if (l.openedBy !== 'both') parts.push(side === l.left ? 'client' : 'server');
  if (side === 'local') parts.push('tuntcp');
  return parts.join(', ');
}

/** "10.0.0.1:40000 (client)" for a side. */
export function endpointName(l: ConnectionLadder, side: Side): string {
  const role = roleOf(l, side);
  return `${side === 'local' ? l.local : l.remote}${role === '' ? '' : ` (${role})`}`;
}

function rightSide(l: ConnectionLadder): Side {
  return l.left === 'local' ? 'remote' : 'local';
}

/** The text inside an arrow: flags, relative seq/ack, length, window. */
export function segmentText(ev: LadderSegment): string {
  const flags = flagsToString(ev.flags) || 'none';
  const seq = ev.relSeq ?? ev.seq;
  let s = `${flags} seq=${seq}`;
  if (ev.relAck !== null) s += ` ack=${ev.relAck}`;
  else if (ev.flags & TcpFlag.ACK) s += ` ack=${ev.ack}`;
  return `${s} len=${ev.len} win=${ev.windowBytes}`;
}

/** "[seq=3735928559 ack=1234567891]": the absolute numbers. */
export function absoluteText(ev: LadderSegment): string {
  return ev.flags & TcpFlag.ACK ? `[seq=${ev.seq} ack=${ev.ack}]` : `[seq=${ev.seq}]`;
}

/** The options a SYN carried: "mss=1460 ws=7". */
export function notesText(ev: LadderSegment): string[] {
  const notes: string[] = [];
  if (ev.mss >= 0) notes.push(`mss=${ev.mss}`);
  if (ev.wscale >= 0) notes.push(`ws=${ev.wscale}`);
  return notes;
}

function arrow(text: string, leftToRight: boolean, width: number): string {
  const body = leftToRight ? `──${text} ` : `◀──${text} `;
  const fill = Math.max(2, width - body.length - (leftToRight ? 1 : 0));
  return leftToRight ? `${body}${'─'.repeat(fill)}▶` : `${body}${'─'.repeat(fill)}`;
}

function timeText(l: ConnectionLadder, t: number): string {
  return (t - l.startedAt).toFixed(3).padStart(TIME_W);
}

/** One diagram line for an event. */
export function formatEventLine(l: ConnectionLadder, ev: LadderEvent, opts: LadderTextOptions = {}): string {
  const color = opts.color ?? false;
  const width = opts.arrowWidth ?? DEFAULT_ARROW_W;
  const prefix = opts.prefix ?? '';
  const time = paint(color, ANSI.dim, timeText(l, ev.t));
  const localIsLeft = l.left === 'local';
  const gap = ' '.repeat(STATE_W + 1 + width + 1);
  if (ev.kind === 'state' || ev.kind === 'timer') {
    const text = ev.kind === 'state' ? paint(color, ANSI.green, `→ ${ev.to}`) : paint(color, ANSI.blue, `⏱ ${ev.timer} timer fired`);
    return `${prefix}${time}  ${localIsLeft ? '' : gap}${text}`;
  }
  const leftState = localIsLeft ? ev.localState : ev.remoteState;
  const rightState = localIsLeft ? ev.remoteState : ev.localState;
  const ltr = ev.from === l.left;
  const arrowColor = ev.from === 'local' ? ANSI.cyan : ANSI.magenta;
  const parts: string[] = [];
  if (ev.label !== null) parts.push(paint(color, ANSI.bold + ANSI.yellow, ev.label));
  for (const m of ev.marks) parts.push(paint(color, ANSI.red, m));
  const notes = notesText(ev);
  if (notes.length > 0) parts.push(notes.join(' '));
  parts.push(paint(color, ANSI.dim, absoluteText(ev)));
  const ls = paint(color, ANSI.green, stateText(leftState).padEnd(STATE_W));
  const rs = paint(color, ANSI.green, stateText(rightState).padEnd(STATE_W));
  return `${prefix}${time}  ${ls} ${paint(color, arrowColor, arrow(segmentText(ev), ltr, width))} ${rs}  ${parts.join('  ')}`.trimEnd();
}

/** Column titles: time, then each endpoint above its state column. */
export function formatColumns(l: ConnectionLadder, opts: LadderTextOptions = {}): string {
  const width = opts.arrowWidth ?? DEFAULT_ARROW_W;
  const leftName = endpointName(l, l.left);
  const rightName = endpointName(l, rightSide(l));
  const leftCol = leftName.padEnd(STATE_W + 1 + width + 1);
  const line = `${'ms'.padStart(TIME_W)}  ${leftCol}${rightName}`;
  return `${opts.prefix ?? ''}${paint(opts.color ?? false, ANSI.bold, line)}`;
}

/** The lines live mode prints when a connection first appears. */
export function formatLiveHeader(l: ConnectionLadder, opts: LadderTextOptions = {}): string[] {
  const prefix = `#${l.id} `;
  const title = `${prefix}TCP ${endpointName(l, l.left)} ⇄ ${endpointName(l, rightSide(l))}`;
  return [paint(opts.color ?? false, ANSI.bold, title), formatColumns(l, { ...opts, prefix })];
}

const TEARDOWN_NAMES = {
  'four-way': 'four-way teardown',
  'three-way': 'three-way teardown (FIN+ACK merged)',
  simultaneous: 'simultaneous close',
  reset: 'reset',
} as const;

/** "#1 done: ...": printed live once our side reaches CLOSED or TIME-WAIT. */
export function formatSummary(l: ConnectionLadder, color = false): string {
  const how = l.teardown === null ? 'no teardown seen' : TEARDOWN_NAMES[l.teardown];
  const rtx = l.retransmissions === 1 ? '1 retransmission' : `${l.retransmissions} retransmissions`;
  const name = (side: Side): string => (side === 'local' ? l.local : l.remote);
  const text = `#${l.id} done: ${name(l.left)} ⇄ ${name(rightSide(l))}, ${how}, ${l.segments} segments, ${rtx}; tuntcp ${stateText(l.localState)}, peer ${stateText(l.remoteState)} (inferred)`;
  return paint(color, ANSI.dim, text);
}

/** The whole diagram of one connection: header, ISNs, one line per event. */
export function renderLadderText(l: ConnectionLadder, opts: LadderTextOptions = {}): string {
  const color = opts.color ?? false;
  const right = rightSide(l);
  const isn = (side: Side): string => {
    const v = side === 'local' ? l.localIsn : l.remoteIsn;
    return `${side === 'local' ? l.local : l.remote} ISN ${v === null ? 'unknown' : v}`;
  };
  const lines: string[] = [];
  lines.push(paint(color, ANSI.bold, `TCP connection #${l.id}: ${endpointName(l, l.left)} ⇄ ${endpointName(l, right)}`));
  lines.push(`${isn(l.left)}, ${isn(right)}`);
  lines.push('arrows: seq/ack relative to the ISNs, window in bytes; [absolute seq/ack]; the peer\'s state is inferred');
  if (l.teardown !== null) lines.push(`closed by: ${TEARDOWN_NAMES[l.teardown]}`);
  const inner = { ...opts, prefix: '' };
  lines.push(formatColumns(l, inner));
  l.events.forEach((ev, i) => {
    if (l.omitted > 0 && i === l.omittedAt) lines.push(`${''.padStart(TIME_W)}  ⋮ ${l.omitted} events omitted`);
    if (ev.kind === 'state' && ev.absorbed) return;
    lines.push(formatEventLine(l, ev, inner));
  });
  return lines.map((s) => `${opts.prefix ?? ''}${s}`.trimEnd()).join('\n') + '\n';
}
