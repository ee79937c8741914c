#!/usr/bin/env node
// Copy bench/results/latest.md into the README between the bench markers.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const root = path.resolve(__dirname, '..');
const readme = path.join(root, 'README.md');
const table = fs.readFileSync(path.join(root, 'bench/results/latest.md'), 'utf8').trim();
const s = fs.readFileSync(readme, 'utf8');
const a = s.indexOf('<!-- bench:start -->');
const b = s.indexOf('<!-- bench:end -->');
if (a < 0 || b < a) throw new Error('README.md has no bench markers');
fs.writeFileSync(readme, `${s.slice(0, a + '<!-- bench:start -->'.length)}\n${table}\n${s.slice(b)}`);
console.log('README.md: performance table updated from bench/results/latest.md');
