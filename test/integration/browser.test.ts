/**
 * The status page in a real browser (issue 5): Debian's headless Chromium, started inside
 * this tier's private network namespace, loads http://10.77.0.2/ from `tuntcp up` through
 * the TUN device. The page must render its connection table and the SVG ladder diagrams
 * of the recent connections; the screenshot and DOM are kept under test-artifacts/.
 */
import test from 'ava';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { chromiumForTests, loadInHeadlessChromium, PNG_SIGNATURE, pngSize } from '../helpers/chromium';
import { ROOT, assertInPrivateNetns, run, startCli } from '../helpers/netns';

const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const SCREENSHOT = path.join(ARTIFACTS, 'status-page.png');
const DOM_COPY = path.join(ARTIFACTS, 'status-page.html');
const WINDOW: readonly [number, number] = [1280, 2000];

test.before(() => assertInPrivateNetns());

/** Each complete `<svg ...>...</svg>` element of the page (inline SVG does not nest here). */
function svgElements(dom: string): string[] {
  return [...dom.matchAll(/<svg\b[\s\S]*?<\/svg>/g)].map((m) => m[0]);
}

/** The text content of markup, entities for the characters the page escapes decoded. */
function textOf(markup: string): string {
  return markup
    .replace(/<[^>]*>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

const lookup = chromiumForTests();
if (lookup.kind === 'skip') console.log(`skipping the browser test: ${lookup.reason}`);
const browserTest = lookup.kind === 'found' ? test.serial : test.serial.skip;

browserTest('headless Chromium renders the status page with its connection table and SVG ladders', async (t) => {
  t.timeout(120_000);
  const binary = lookup.kind === 'found' ? lookup.binary : '';
  const cli = await startCli(['up']);
  try {
    // Recent connections for the page to draw: two complete curl exchanges.
    const ports: string[] = [];
    for (const url of ['http://10.77.0.2/bytes/1000', 'http://10.77.0.2/connections']) {
      const c = await run('curl', ['-sS', '-m', '10', '-o', '/dev/null', '-w', '%{http_code} %{local_port}', url], { timeoutMs: 15_000 });
      const [status, port] = c.stdout.split(' ');
      t.is(status, '200', `${url}: ${c.stdout} ${c.stderr}`);
      ports.push(port ?? '');
    }

    mkdirSync(ARTIFACTS, { recursive: true });
    const r = await loadInHeadlessChromium(binary, 'http://10.77.0.2/', { screenshot: SCREENSHOT, windowSize: WINDOW, timeoutMs: 60_000 });
    writeFileSync(DOM_COPY, r.dom);
    const log = `\n${r.argv.join(' ')}\nstderr (tail):\n${r.stderr.split('\n').slice(-15).join('\n')}`;
    t.false(r.timedOut, `Chromium did not finish in 60 s and was killed${log}`);
    t.is(r.code, 0, `Chromium exited with ${r.code ?? r.signal}${log}`);

    // The page rendered: our title, and the live-connection table with its columns.
    const title = /<title>([^<]*)<\/title>/.exec(r.dom)?.[1] ?? '';
    t.regex(title, /tuntcp/, `title of the rendered DOM (saved in ${DOM_COPY})${log}`);
    const table = /<table\b[\s\S]*?<\/table>/.exec(r.dom)?.[0] ?? '';
    t.not(table, '', 'the connection table is in the DOM');
    const headers = [...table.matchAll(/<th\b[^>]*>([^<]*)<\/th>/g)].map((m) => m[1]!.trim());
    for (const h of ['local', 'remote', 'state']) t.true(headers.includes(h), `column "${h}" in ${headers.join(', ')}`);
    // Chromium's own connection is live while the page is generated.
    t.regex(table, /<td>10\.77\.0\.2:80<\/td><td>10\.77\.0\.1:\d+<\/td><td>ESTABLISHED<\/td>/, 'a live connection row');

    // The recent connections' ladders, as inline SVG: one for each curl, with the
    // labelled handshake (issue 5: "handshake 1/3" ...).
    const svgs = svgElements(r.dom);
    t.true(svgs.length >= 1, 'at least one inline <svg> ladder');
    for (const port of ports) {
      const ladder = svgs.find((s) => textOf(s).includes(`10.77.0.1:${port}`) || s.includes(`10.77.0.1:${port}`));
      if (ladder === undefined) {
        t.fail(`no SVG ladder mentions the curl connection from 10.77.0.1:${port}`);
        continue;
      }
      const text = textOf(ladder);
      for (const step of ['handshake 1/3', 'handshake 2/3', 'handshake 3/3']) t.true(text.includes(step), `"${step}" in the ladder of :${port}`);
      t.regex(text, /teardown \d\/\d/, `a labelled teardown in the ladder of :${port}`);
    }

    // The screenshot: a real PNG of the requested size, and not a blank page.
    const png = readFileSync(SCREENSHOT);
    t.true(png.subarray(0, 8).equals(PNG_SIGNATURE), 'PNG signature');
    t.deepEqual(pngSize(png), { width: WINDOW[0], height: WINDOW[1] });
    // A blank 1280x2000 page compresses to a few kB; text, a table and diagrams do not.
    t.true(statSync(SCREENSHOT).size > 30_000, `screenshot is ${statSync(SCREENSHOT).size} bytes`);
    t.log(`screenshot: ${path.relative(ROOT, SCREENSHOT)} (${png.length} bytes), DOM: ${path.relative(ROOT, DOM_COPY)}`);
  } finally {
    t.is(await cli.stop('SIGTERM'), 0);
  }
});
