/** The README stays true: its two commands, and a CLI reference that matches the parser. */
import test from 'ava';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { FLAGS } from '../../src/cli-options';
import { withCliReference } from '../../src/cli-reference';

const README = readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
const CI = readFileSync(path.join(__dirname, '../../.ci/run'), 'utf8');
const PKG = JSON.parse(readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { scripts: Record<string, string> };

test('the two commands are in the README exactly, and CI runs the test one', (t) => {
  const section = README.slice(README.indexOf('## Two commands'), README.indexOf('## Requirements'));
  const blocks = [...section.matchAll(/```sh\n([^`]*)```/g)].map((m) => m[1]!.trim());
  t.deepEqual(blocks, ['npm ci && npm start', 'npm ci && npm test']);
  t.regex(CI, /^npm ci\b/m);
  t.regex(CI, /^npm test\b/m);
  t.is(PKG.scripts.prestart, 'npm run build');
  t.regex(PKG.scripts.start!, /dist\/cli\.js up/);
});

test('the CLI reference in the README is the one generated from the parser (npm run docs)', (t) => {
  t.is(withCliReference(README), README);
  for (const f of FLAGS) t.true(README.includes(`\`--${f.name}`), `--${f.name} is documented`);
});
