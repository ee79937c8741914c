/**
 * SVG rendering of a connection ladder (ladder.ts), for the status page.
 *
 * Self-contained: one <svg> element with presentation attributes only: no stylesheet, no
 * external fonts (the generic `monospace` family), no scripts, no links, no element ids
 * (so several diagrams can sit inline in one HTML page). Every piece of text is escaped.
 *
 * Layout: the client's lifeline on the left, the server's on the right, one row per
 * segment (time downwards). Each arrow carries flags and relative seq/ack/len/win above
 * it and the absolute numbers below it; a box beside a lifeline shows that side's new
 * state whenever it changes (the peer's is inferred, drawn dashed); the label
 * ("handshake 1/3", "teardown 2/3: FIN+ACK merged") and marks (retransmission, dup ACK,
 * window probe, zero window) go in the column on the right. Retransmitted segments are
 * drawn as dashed red arrows.
 */
import type { TcpState } from '../tcp/state';
import type { ConnectionLadder, LadderSegment, Side } from './ladder';
import { absoluteText, endpointName, segmentText } from './ladder-text';

export interface LadderSvgOptions {
  /** Title above the diagram (default: "TCP connection #id"). */
  title?: string;
}

/** Escape text for XML character data and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => XML_ESCAPES[c as keyof typeof XML_ESCAPES]);
}

const XML_ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' } as const;

const CHAR_W = 7.3; // monospace 12px advance, roughly
const ROW_H = 44;
const TOP = 96;
const TIME_X = 8;
const LEFT_BOX_X = 62;
const BOX_W = 100;
const LEFT_X = 172;
const SPAN = 420;
const RIGHT_X = LEFT_X + SPAN;
const RIGHT_BOX_X = RIGHT_X + 10;
const NOTE_X = RIGHT_BOX_X + BOX_W + 14;

const COLOR = {
  local: '#0b7285',
  remote: '#862e9c',
  retransmit: '#c92a2a',
  state: '#2b8a3e',
  timer: '#1864ab',
  mark: '#c92a2a',
  grey: '#868e96',
  line: '#adb5bd',
  text: '#212529',
} as const;

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}"${attrs === '' ? '' : ` ${attrs}`}>${escapeXml(s)}</text>`;
}

function stateBox(x: number, y: number, state: TcpState | null, inferred: boolean): string {
  const label = state ?? '—';
  const dash = inferred ? ' stroke-dasharray="3 2"' : '';
  return (
    `<g><title>${escapeXml(inferred ? `${label} (inferred)` : label)}</title>` +
    `<rect x="${x}" y="${(y - 11).toFixed(1)}" width="${BOX_W}" height="16" rx="4" fill="#ebfbee" stroke="${COLOR.state}"${dash}/>` +
    text(x + BOX_W / 2, y + 1, label, `text-anchor="middle" font-size="10" fill="${COLOR.state}"`) +
    '</g>'
  );
}

function arrowSvg(ev: LadderSegment, ltr: boolean, y: number): string {
  const color = ev.retransmit ? COLOR.retransmit : ev.from === 'local' ? COLOR.local : COLOR.remote;
  const dash = ev.retransmit ? ' stroke-dasharray="6 3"' : '';
  const x1 = ltr ? LEFT_X : RIGHT_X;
  const x2 = ltr ? RIGHT_X : LEFT_X;
  const tip = ltr ? -9 : 9;
  const head = `${x2},${y} ${x2 + tip},${y - 4} ${x2 + tip},${y + 4}`;
  const mid = (LEFT_X + RIGHT_X) / 2;
  return (
    `<g><title>${escapeXml(`${segmentText(ev)} ${absoluteText(ev)}`)}</title>` +
    `<line x1="${x1}" y1="${y}" x2="${x2 + tip}" y2="${y}" stroke="${color}" stroke-width="1.6"${dash}/>` +
    `<polygon points="${head}" fill="${color}"/>` +
    text(mid, y - 5, segmentText(ev), `text-anchor="middle" fill="${color}"`) +
    text(mid, y + 13, absoluteText(ev), `text-anchor="middle" font-size="10" fill="${COLOR.grey}"`) +
    '</g>'
  );
}

/** The whole ladder of one connection as one self-contained <svg> element. */
export function renderLadderSvg(l: ConnectionLadder, opts: LadderSvgOptions = {}): string {
  const right: Side = l.left === 'local' ? 'remote' : 'local';
  const boxX = (side: Side): number => (side === l.left ? LEFT_BOX_X : RIGHT_BOX_X);
  const body: string[] = [];
  let y = TOP;
  let maxNote = 0;
  const shown: Record<Side, TcpState | null | undefined> = { local: undefined, remote: undefined };
  const showState = (side: Side, s: TcpState | null, at: number): void => {
    if (shown[side] === s) return;
    shown[side] = s;
    body.push(stateBox(boxX(side), at, s, side === 'remote'));
  };

  l.events.forEach((ev, i) => {
    if (l.omitted > 0 && i === l.omittedAt) {
      body.push(text((LEFT_X + RIGHT_X) / 2, y, `⋮ ${l.omitted} events omitted`, `text-anchor="middle" fill="${COLOR.grey}"`));
      y += ROW_H / 2;
    }
    const t = (ev.t - l.startedAt).toFixed(3);
    if (ev.kind === 'state') {
      if (ev.absorbed) return;
      body.push(text(TIME_X, y, t, `font-size="10" fill="${COLOR.grey}"`));
      showState('local', ev.to, y);
      y += ROW_H / 2;
      return;
    }
    if (ev.kind === 'timer') {
      const note = `timer: ${ev.timer}`;
      body.push(text(TIME_X, y, t, `font-size="10" fill="${COLOR.grey}"`));
      const x = l.left === 'local' ? LEFT_X + 8 : RIGHT_X - 8;
      body.push(text(x, y, note, `font-size="10" font-style="italic" fill="${COLOR.timer}"${l.left === 'local' ? '' : ' text-anchor="end"'}`));
      y += ROW_H / 2;
      return;
    }
    body.push(text(TIME_X, y + 4, t, `font-size="10" fill="${COLOR.grey}"`));
    body.push(arrowSvg(ev, ev.from === l.left, y));
    showState(l.left, l.left === 'local' ? ev.localState : ev.remoteState, y + 4);
    showState(right, right === 'local' ? ev.localState : ev.remoteState, y + 4);
    let nx = NOTE_X;
    if (ev.label !== null) {
      body.push(text(nx, y + 4, ev.label, `font-weight="bold" fill="${COLOR.text}"`));
      nx += (ev.label.length + 2) * CHAR_W;
    }
    const marks = ev.marks.join(', ');
    if (marks !== '') {
      body.push(text(nx, y + 4, marks, `fill="${COLOR.mark}"`));
      nx += (marks.length + 1) * CHAR_W;
    }
    maxNote = Math.max(maxNote, nx - NOTE_X);
    y += ROW_H;
  });

  const height = Math.ceil(y + 10);
  const title = opts.title ?? `TCP connection #${l.id}`;
  const isn = (v: number | null): string => (v === null ? 'unknown' : String(v));
  const sideIsn = (side: Side): string => `${side === 'local' ? l.local : l.remote} = ${isn(side === 'local' ? l.localIsn : l.remoteIsn)}`;
  const subtitle = `ISNs: ${sideIsn(l.left)}, ${sideIsn(right)}. seq/ack relative to them, [absolute]; dashed states inferred`;
  const leftName = endpointName(l, l.left);
  const rightName = endpointName(l, right);
  const width = Math.ceil(Math.max(NOTE_X + maxNote + 10, 8 + subtitle.length * CHAR_W * (11 / 12) + 10, RIGHT_X + (rightName.length * CHAR_W) / 2 + 10, 720));
  const head: string[] = [
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    text(8, 18, title, `font-size="14" font-weight="bold" fill="${COLOR.text}"`),
    text(8, 36, subtitle, `font-size="11" fill="${COLOR.grey}"`),
    text(LEFT_X, 64, leftName, `text-anchor="middle" font-weight="bold" fill="${COLOR.text}"`),
    text(RIGHT_X, 64, rightName, `text-anchor="middle" font-weight="bold" fill="${COLOR.text}"`),
    `<line x1="${LEFT_X}" y1="72" x2="${LEFT_X}" y2="${height - 6}" stroke="${COLOR.line}" stroke-width="2"/>`,
    `<line x1="${RIGHT_X}" y1="72" x2="${RIGHT_X}" y2="${height - 6}" stroke="${COLOR.line}" stroke-width="2"/>`,
  ];
  const aria = `${title}: ${leftName} and ${rightName}`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `font-family="monospace" font-size="12" role="img" aria-label="${escapeXml(aria)}">` +
    `<title>${escapeXml(aria)}</title>` +
    head.join('') +
    body.join('') +
    '</svg>'
  );
}
