/**
 * Figures to output: medians and percentiles, the machine line, the printed table, the
 * JSON file (the shape issue 6 fixes) and the Markdown table for the README.
 */
import { readFileSync } from 'node:fs';
import * as os from 'node:os';

export interface Row {
  metric: string;
  unit: string;
  tuntcp: number | null;
  kernel: number | null;
  /** tuntcp / kernel; null where either figure is missing. */
  ratio: number | null;
}

export interface Report {
  date: string;
  machine: string;
  results: Row[];
}

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Nearest-rank percentile (p in 0..100) of unsorted samples. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) throw new RangeError('percentile of no samples');
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[rank - 1] as number;
}

/** A sensible precision for the file and the table: whole numbers from 1000 up, else 4 significant digits. */
function tidy(x: number | null): number | null {
  if (x === null || !Number.isFinite(x)) return null;
  return Math.abs(x) >= 1000 ? Math.round(x) : Number(x.toPrecision(4));
}

export function row(metric: string, unit: string, tuntcp: number | null, kernel: number | null): Row {
  const t = tidy(tuntcp);
  const k = tidy(kernel);
  const ratio = tuntcp !== null && kernel !== null && kernel !== 0 && Number.isFinite(tuntcp / kernel) ? tidy(tuntcp / kernel) : null;
  return { metric, unit, tuntcp: t, kernel: k, ratio };
}

/** CPU model, cores, memory, kernel, Node: one line. */
export function machine(): string {
  let model = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1] !== undefined) model = m[1].trim();
  } catch {
    // os.cpus() will do.
  }
  const gib = (os.totalmem() / 1024 ** 3).toFixed(1);
  return `${model}, ${os.cpus().length} cores, ${gib} GiB RAM, Linux ${os.release()}, Node ${process.version}`;
}

function cell(x: number | null): string {
  if (x === null) return '-';
  return String(x);
}

/** A fixed-width table for the terminal. */
export function textTable(rows: readonly Row[]): string {
  const header = ['metric', 'unit', 'tuntcp', 'kernel', 'ratio'];
  const body = rows.map((r) => [r.metric, r.unit, cell(r.tuntcp), cell(r.kernel), cell(r.ratio)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const fmt = (cols: readonly string[]): string => cols.map((c, i) => (i < 2 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt)].join('\n');
}

/** The same table in Markdown, with the date and machine, and the run's notes. */
export function markdown(report: Report, notes: readonly string[]): string {
  const lines = [
    `Measured ${report.date} on ${report.machine}.`,
    '',
    '| metric | unit | tuntcp | kernel | ratio (tuntcp / kernel) |',
    '| --- | --- | ---: | ---: | ---: |',
    ...report.results.map((r) => `| ${r.metric} | ${r.unit} | ${cell(r.tuntcp)} | ${cell(r.kernel)} | ${cell(r.ratio)} |`),
  ];
  if (notes.length > 0) lines.push('', ...notes.map((n) => `- ${n}`));
  return `${lines.join('\n')}\n`;
}

/** ISO 8601 basic format (no colons, so the file name is portable): 20250102T030405Z. */
export function fileStamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.[0-9]+Z$/, 'Z');
}
