// Regenerate the README's CLI reference from the parser's flag table.
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { withCliReference } from '../src/cli-reference';

const file = path.join(__dirname, '..', 'README.md');
writeFileSync(file, withCliReference(readFileSync(file, 'utf8')));
console.log('README.md: CLI reference updated');
