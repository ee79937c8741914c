/**
 * docker/ stays buildable and honest without a Docker engine (issue 7): the Dockerfile is
 * linted (dockerfile-utils) and parsed (dockerfile-ast), every path it copies must exist
 * and reach the build context, every command it runs must be one the project defines, the
 * base images are Node 20 on Debian bookworm, and compose grants the least privilege that
 * works (NET_ADMIN and /dev/net/tun, never privileged) and runs the script CI runs.
 *
 * Lint policy: no diagnostic of error severity. Warnings (instruction casing, relative
 * WORKDIR, deprecated MAINTAINER, JSON in single quotes, several CMDs, ...) all point at
 * real mistakes, so they fail too unless listed in ACCEPTED_WARNINGS with the reason;
 * that list is empty.
 */
import test from 'ava';
import { DockerfileParser, type Dockerfile, type Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { FLAGS } from '../../src/cli-options';

const ROOT = path.resolve(__dirname, '../..');
const read = (p: string): string => readFileSync(path.join(ROOT, p), 'utf8');

const DOCKERFILE_PATH = 'docker/Dockerfile';
const DOCKERFILE = read(DOCKERFILE_PATH);
const COMPOSE = read('docker/compose.yaml');
// BuildKit reads <Dockerfile>.dockerignore beside the Dockerfile before <context>/.dockerignore.
const DOCKERIGNORE_PATH = ['docker/Dockerfile.dockerignore', '.dockerignore'].find((p) => existsSync(path.join(ROOT, p))) ?? 'docker/Dockerfile.dockerignore';
const DOCKERIGNORE = existsSync(path.join(ROOT, DOCKERIGNORE_PATH)) ? read(DOCKERIGNORE_PATH) : '';
const CI_SCRIPT = '.ci/run';
const PKG = JSON.parse(read('package.json')) as { scripts: Record<string, string>; bin: Record<string, string> };

/** Diagnostic severities, LSP 3.17 `DiagnosticSeverity` (what dockerfile-utils returns). */
const LSP_ERROR = 1;
const LSP_WARNING = 2;
/** dockerfile-utils warning codes deliberately accepted, with the reason. None so far. */
const ACCEPTED_WARNINGS: ReadonlyMap<number, string> = new Map();

/** The node image's own ENTRYPOINT: it runs its arguments when the first is a command. */
const NODE_IMAGE_ENTRYPOINT = 'docker-entrypoint.sh';
/** Node 20 on Debian 12 (bookworm), optionally slim, optionally pinned by digest. */
const BASE_IMAGE = /^node:20(?:\.\d+){0,2}-bookworm(?:-slim)?(?:@sha256:[0-9a-f]{64})?$/;

// ---------------------------------------------------------------------------------------
// The Dockerfile as stages.

interface Stage {
  readonly name: string;
  /** The FROM argument: an image, or an earlier stage's name. */
  readonly base: string;
  readonly parent: Stage | null;
  readonly instructions: readonly Instruction[];
}

function stagesOf(df: Dockerfile): Stage[] {
  const stages: Stage[] = [];
  let current: { name: string; base: string; parent: Stage | null; instructions: Instruction[] } | null = null;
  for (const ins of df.getInstructions()) {
    if (ins.getKeyword() === 'FROM') {
      if (current !== null) stages.push(current);
      const from = df.getFROMs().find((f) => f.getRange().start.line === ins.getRange().start.line)!;
      const base = from.getImage() ?? '';
      current = { name: from.getBuildStage() ?? `#${stages.length}`, base, parent: stages.find((s) => s.name === base) ?? null, instructions: [] };
    } else if (current !== null) {
      current.instructions.push(ins);
    }
  }
  if (current !== null) stages.push(current);
  return stages;
}

const DF = DockerfileParser.parse(DOCKERFILE);
const STAGES = stagesOf(DF);
const stage = (name: string): Stage | undefined => STAGES.find((s) => s.name === name);
const lineOf = (ins: Instruction): string => `${DOCKERFILE_PATH}:${ins.getRange().start.line + 1}`;

/** The stage and its ancestors, nearest first. */
function lineage(s: Stage): Stage[] {
  const out: Stage[] = [];
  for (let cur: Stage | null = s; cur !== null; cur = cur.parent) out.push(cur);
  return out;
}

function ofKind(s: Stage, keyword: string): Instruction[] {
  return s.instructions.filter((i) => i.getKeyword() === keyword);
}

/** An exec-form (JSON) argument list, or null for the shell form. */
function execForm(ins: Instruction): string[] | null {
  const strings = (ins as unknown as { getJSONStrings?: () => { getJSONValue(): string }[] }).getJSONStrings?.() ?? [];
  return strings.length > 0 ? strings.map((s) => s.getJSONValue()) : null;
}

/** A COPY's flags and arguments (sources..., destination). */
function copyParts(ins: Instruction): { from: string | null; sources: string[]; dest: string } {
  const flags = (ins as unknown as { getFlags(): { getName(): string; getValue(): string | null }[] }).getFlags();
  const from = flags.find((f) => f.getName() === 'from')?.getValue() ?? null;
  const args = execForm(ins) ?? ins.getArguments().map((a) => a.getValue());
  return { from, sources: args.slice(0, -1), dest: args[args.length - 1] ?? '' };
}

/** ENV values a stage sees (its own and inherited ones). */
function envOf(s: Stage): Map<string, string> {
  const env = new Map<string, string>();
  for (const st of lineage(s).reverse()) {
    for (const ins of ofKind(st, 'ENV')) {
      for (const p of (ins as unknown as { getProperties(): { getName(): string; getValue(): string | null }[] }).getProperties()) env.set(p.getName(), p.getValue() ?? '');
    }
  }
  return env;
}

/**
 * What a container of this stage runs by default: ENTRYPOINT + CMD, inherited along the
 * stages (an ENTRYPOINT set in a stage clears the CMD it inherited, as Docker does). The
 * node image's docker-entrypoint.sh execs its arguments when they start with a command,
 * so under it the CMD is what runs.
 */
function defaultCommand(s: Stage, cmdOverride: string[] | null = null): { argv: string[]; where: string } {
  let entrypoint: string[] = [NODE_IMAGE_ENTRYPOINT];
  let cmd: string[] = ['node'];
  let where = 'the node base image';
  for (const st of lineage(s).reverse()) {
    for (const ins of st.instructions) {
      const k = ins.getKeyword();
      if (k === 'ENTRYPOINT') {
        entrypoint = execForm(ins) ?? ['/bin/sh', '-c', ins.getArgumentsContent() ?? ''];
        cmd = [];
        where = lineOf(ins);
      } else if (k === 'CMD') {
        cmd = execForm(ins) ?? ['/bin/sh', '-c', ins.getArgumentsContent() ?? ''];
        where = lineOf(ins);
      }
    }
  }
  if (cmdOverride !== null) cmd = cmdOverride;
  const argv = entrypoint.length === 1 && entrypoint[0] === NODE_IMAGE_ENTRYPOINT ? cmd : [...entrypoint, ...cmd];
  return { argv, where };
}

/** The WORKDIR in effect at the end of the stage (the last one set along its lineage). */
function workdirOf(s: Stage): string {
  const dirs = lineage(s)
    .reverse()
    .flatMap((st) => ofKind(st, 'WORKDIR'))
    .map((w) => w.getArgumentsContent() ?? '/');
  return dirs[dirs.length - 1] ?? '/';
}

/** Packages `apt-get install` puts into this stage, its ancestors included. */
function aptPackages(s: Stage): Set<string> {
  const pkgs = new Set<string>();
  for (const st of lineage(s)) {
    for (const ins of ofKind(st, 'RUN')) {
      for (const words of shellCommands(ins.getArgumentsContent() ?? '').map(stripAssignments)) {
        if (words[0] === 'apt-get' && words[1] === 'install') for (const w of words.slice(2)) if (!w.startsWith('-')) pkgs.add(w);
      }
    }
  }
  return pkgs;
}

// ---------------------------------------------------------------------------------------
// Shell commands, as far as a Dockerfile here may use them: simple commands joined by
// && || ; |, words separated by blanks. Quoting, substitutions and redirections are not
// needed and are refused, so nothing the checker cannot read slips through.

function shellCommands(script: string): string[][] {
  if (/["'`$<>\\]/.test(script)) throw new Error(`shell syntax this check does not read (quotes, $, redirections): ${script}`);
  return script
    .split(/&&|\|\||;|\|/)
    .map((c) => c.trim().split(/\s+/).filter((w) => w !== ''))
    .filter((w) => w.length > 0);
}

/** Drop leading NAME=value assignments (only ones known to be harmless are allowed). */
function stripAssignments(words: string[]): string[] {
  let i = 0;
  while (i < words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i]!)) i++;
  return words.slice(i);
}

const ALLOWED_ASSIGNMENTS = new Set(['DEBIAN_FRONTEND=noninteractive']);
const CLI_BIN = PKG.bin.tuntcp ?? '';
const CLI_COMMANDS = new Set(FLAGS.flatMap((f) => f.commands));

/**
 * Why `words` is not a command the project defines (or a fixed system step), or null when
 * it is. npm scripts must exist in package.json, `node X` must be the package's bin (with
 * a command and flags the CLI knows) or a file in the build context, `bash X` a file in
 * the build context.
 */
function whyNotDefined(raw: string[]): string | null {
  for (const w of raw) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(w)) break;
    if (!ALLOWED_ASSIGNMENTS.has(w)) return `unexpected assignment ${w}`;
  }
  const words = stripAssignments(raw);
  const [cmd, sub, ...rest] = words;
  switch (cmd) {
    case 'apt-get':
      if (sub === 'update' && rest.length === 0) return null;
      if (sub === 'install') {
        const bad = rest.filter((w) => (w.startsWith('-') ? !['-y', '-qq', '--no-install-recommends'].includes(w) : !/^[a-z0-9][a-z0-9+.-]+$/.test(w)));
        return bad.length === 0 && rest.includes('--no-install-recommends') ? null : `apt-get install needs -y --no-install-recommends and plain package names (${bad.join(' ')})`;
      }
      return `apt-get ${sub ?? ''} is not a step this image needs`;
    case 'rm':
      return words.join(' ') === 'rm -rf /var/lib/apt/lists/*' ? null : `only the apt cleanup may remove files: ${words.join(' ')}`;
    case 'npm':
      if (sub === 'ci') return rest.every((w) => ['--no-audit', '--no-fund', '--omit=dev', '--ignore-scripts'].includes(w)) ? null : `npm ci ${rest.join(' ')}`;
      if (sub === 'prune') return rest.join(' ') === '--omit=dev' ? null : `npm prune ${rest.join(' ')}`;
      if (sub === 'run') return rest[0] !== undefined && PKG.scripts[rest[0]] !== undefined ? null : `npm run ${rest[0] ?? ''}: no such script in package.json`;
      if (sub === 'test' || sub === 'start') return PKG.scripts[sub] !== undefined ? null : `npm ${sub}: no such script in package.json`;
      return `npm ${sub ?? ''} is not a command the project uses`;
    case 'node': {
      if (sub === undefined) return 'node without a script';
      if (path.posix.normalize(sub) === path.posix.normalize(CLI_BIN)) {
        const [command, ...flags] = rest;
        if (command === undefined || !CLI_COMMANDS.has(command as never)) return `${sub} ${command ?? ''}: not a tuntcp command (${[...CLI_COMMANDS].join(', ')})`;
        for (const f of flags.filter((w) => w.startsWith('--'))) {
          const name = f.slice(2).split('=')[0]!;
          if (!FLAGS.some((s) => s.name === name && s.commands.includes(command as never))) return `tuntcp ${command} has no flag ${f}`;
        }
        return null;
      }
      return inContext(sub) ? null : `node ${sub}: not the package's bin (${CLI_BIN}) nor a file in the build context`;
    }
    case 'bash':
    case 'sh':
      return sub !== undefined && !sub.startsWith('-') && inContext(sub) ? null : `${cmd} ${sub ?? ''}: not a script in the build context`;
    default:
      return `${cmd ?? '(empty)'} is not a command the project defines`;
  }
}

// ---------------------------------------------------------------------------------------
// .dockerignore and .gitignore, as much of each as this repository uses.

function globToRegExp(glob: string): string {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      const slash = glob[i + 2] === '/';
      re += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return re;
}

interface IgnoreRule {
  readonly negate: boolean;
  readonly re: RegExp;
}

function ignoreRules(text: string, flavour: 'docker' | 'git'): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const rawLine of text.split('\n')) {
    let line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1);
    // Both: a match on a directory covers everything under it (that is the `(?:/.*)?`).
    if (flavour === 'docker') {
      // Docker: paths relative to the context root, cleaned; no implicit "any depth".
      line = path.posix.normalize(line.replace(/^\/+/, '')).replace(/\/$/, '');
      rules.push({ negate, re: new RegExp(`^${globToRegExp(line)}(?:/.*)?$`) });
    } else {
      // Git: a pattern with no inner slash matches at any depth; otherwise from the root.
      line = line.replace(/\/$/, '');
      const anchored = line.includes('/');
      line = line.replace(/^\//, '');
      rules.push({ negate, re: new RegExp(`^${anchored ? '' : '(?:.*/)?'}${globToRegExp(line)}(?:/.*)?$`) });
    }
  }
  return rules;
}

function ignoredBy(rules: readonly IgnoreRule[], rel: string): boolean {
  let ignored = false;
  for (const r of rules) if (r.re.test(rel)) ignored = !r.negate; // the last match decides
  return ignored;
}

const DOCKER_RULES = ignoreRules(DOCKERIGNORE, 'docker');
const dockerIgnored = (rel: string): boolean => ignoredBy(DOCKER_RULES, path.posix.normalize(rel).replace(/^\.\//, '').replace(/\/$/, ''));

/** A path (relative to the build context, the repository root) that exists and is sent. */
function inContext(rel: string): boolean {
  return !path.posix.isAbsolute(rel) && !path.posix.normalize(rel).startsWith('..') && existsSync(path.join(ROOT, rel)) && !dockerIgnored(rel);
}

/** Every path in the working tree except .git, not descending into ignored directories. */
function walk(skip: (rel: string) => boolean, dir = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(ROOT, dir))) {
    const rel = dir === '' ? name : `${dir}/${name}`;
    if (rel === '.git') continue;
    out.push(rel);
    if (!skip(rel) && statSync(path.join(ROOT, rel)).isDirectory()) out.push(...walk(skip, rel));
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// compose.yaml through a small YAML reader: block mappings and sequences, flow sequences,
// plain and quoted scalars, comments. Anything else (anchors, block scalars, flow
// mappings) is refused rather than misread.

type Yaml = string | Yaml[] | { [key: string]: Yaml };

function stripComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote !== null) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i);
  }
  return line;
}

function yamlScalar(text: string, where: number): Yaml {
  const s = text.trim();
  if (/^[&*!|>{]/.test(s)) throw new Error(`compose.yaml line ${where}: YAML feature not supported by this reader: ${s}`);
  if (s.startsWith('[')) {
    if (!s.endsWith(']')) throw new Error(`compose.yaml line ${where}: unterminated flow sequence`);
    const inner = s.slice(1, -1).trim();
    return inner === '' ? [] : inner.split(',').map((item) => yamlScalar(item, where));
  }
  if (s.startsWith('"')) return JSON.parse(s) as string;
  if (s.startsWith("'")) return s.slice(1, -1).replace(/''/g, "'");
  return s;
}

function parseYaml(text: string): Yaml {
  const lines = text
    .split('\n')
    .map((raw, i) => ({ n: i + 1, raw: stripComment(raw).replace(/\s+$/, '') }))
    .filter((l) => l.raw.trim() !== '')
    .map((l) => ({ n: l.n, indent: l.raw.length - l.raw.trimStart().length, text: l.raw.trim() }));
  let i = 0;
  const block = (indent: number): Yaml => {
    const first = lines[i]!;
    if (first.text === '-' || first.text.startsWith('- ')) {
      const seq: Yaml[] = [];
      while (i < lines.length && lines[i]!.indent === indent && (lines[i]!.text === '-' || lines[i]!.text.startsWith('- '))) {
        const item = lines[i]!.text.slice(1).trim();
        if (item === '' || /^[^"'[]*:(\s|$)/.test(item)) throw new Error(`compose.yaml line ${lines[i]!.n}: nested sequence items are not supported by this reader`);
        seq.push(yamlScalar(item, lines[i]!.n));
        i++;
      }
      return seq;
    }
    const map: { [key: string]: Yaml } = {};
    while (i < lines.length && lines[i]!.indent === indent) {
      const { n, text: t } = lines[i]!;
      const m = /^([A-Za-z0-9_.-]+|"[^"]*"):(?:\s+(.*))?$/.exec(t);
      if (m === null) throw new Error(`compose.yaml line ${n}: expected "key: value", got ${t}`);
      const key = m[1]!.replace(/^"|"$/g, '');
      if (key in map) throw new Error(`compose.yaml line ${n}: duplicate key ${key}`);
      i++;
      if (m[2] !== undefined) map[key] = yamlScalar(m[2], n);
      else if (i < lines.length && lines[i]!.indent > indent) map[key] = block(lines[i]!.indent);
      else if (i < lines.length && lines[i]!.indent === indent && lines[i]!.text.startsWith('- ')) map[key] = block(indent);
      else map[key] = '';
    }
    if (i < lines.length && lines[i]!.indent > indent) throw new Error(`compose.yaml line ${lines[i]!.n}: unexpected indentation`);
    return map;
  };
  const doc = lines.length === 0 ? {} : block(lines[0]!.indent);
  if (i < lines.length) throw new Error(`compose.yaml line ${lines[i]!.n}: unexpected indentation`);
  return doc;
}

const asMap = (y: Yaml | undefined): { [key: string]: Yaml } => (y !== undefined && typeof y === 'object' && !Array.isArray(y) ? y : {});
const asList = (y: Yaml | undefined): string[] => (Array.isArray(y) ? y.filter((v): v is string => typeof v === 'string') : typeof y === 'string' && y !== '' ? [y] : []);
/** `environment:` as a map or as a NAME=value list. */
function envMap(y: Yaml | undefined): Map<string, string> {
  if (Array.isArray(y)) return new Map(asList(y).map((e) => [e.split('=')[0]!, e.slice(e.indexOf('=') + 1)]));
  return new Map(Object.entries(asMap(y)).map(([k, v]) => [k, typeof v === 'string' ? v : '']));
}

const COMPOSE_DOC = parseYaml(COMPOSE);
const SERVICES = asMap(asMap(COMPOSE_DOC).services);

// ---------------------------------------------------------------------------------------

test('the YAML reader reads what it supports and refuses what it does not', (t) => {
  t.deepEqual(parseYaml('a:\n  b: [x, "y z"] # note\n  c:\n    - 1\n    - \'q\'\nd: "#not a comment"\n'), { a: { b: ['x', 'y z'], c: ['1', 'q'] }, d: '#not a comment' });
  t.deepEqual(parseYaml('k:\n- a\n- b\n'), { k: ['a', 'b'] });
  t.throws(() => parseYaml('a: &anchor x\n'));
  t.throws(() => parseYaml('a: |\n  text\n'));
  t.throws(() => parseYaml('a:\n  - name: x\n'));
});

test('the ignore-file matchers follow Docker and Git semantics for the patterns used here', (t) => {
  const docker = ignoreRules('node_modules\n**/*.pcap\nbench/runs\n!keep.pcap\n', 'docker');
  t.true(ignoredBy(docker, 'node_modules'));
  t.true(ignoredBy(docker, 'node_modules/ava/package.json'));
  t.false(ignoredBy(docker, 'test/node_modules'), 'Docker patterns are anchored at the context root');
  t.true(ignoredBy(docker, 'a.pcap'));
  t.true(ignoredBy(docker, 'x/y/a.pcap'));
  t.false(ignoredBy(docker, 'keep.pcap'), 'a later ! pattern re-includes');
  t.true(ignoredBy(docker, 'bench/runs/1.json'));
  t.false(ignoredBy(docker, 'bench/run.ts'));
  const git = ignoreRules('dist/\n*.pcap\n/top\nbench/runs/\n', 'git');
  t.true(ignoredBy(git, 'dist/cli.js'));
  t.true(ignoredBy(git, 'x/dist'), 'Git patterns without a slash match at any depth');
  t.true(ignoredBy(git, 'x/y.pcap'));
  t.true(ignoredBy(git, 'top'));
  t.false(ignoredBy(git, 'x/top'));
  t.true(ignoredBy(git, 'bench/runs/a'));
});

test('dockerfile-utils finds no errors and no warnings beyond the accepted ones', (t) => {
  // The linter is live: a broken Dockerfile gets an error.
  t.true(validate('FROM node:20-bookworm-slim\nCOPY only-one-argument\n').some((d) => d.severity === LSP_ERROR));
  const problems = validate(DOCKERFILE);
  const describe = (d: (typeof problems)[number]): string => `${DOCKERFILE_PATH}:${d.range.start.line + 1}: ${d.message} (code ${String(d.code)})`;
  t.deepEqual(problems.filter((d) => d.severity === LSP_ERROR).map(describe), [], 'errors');
  t.deepEqual(problems.filter((d) => d.severity === LSP_WARNING && !ACCEPTED_WARNINGS.has(Number(d.code))).map(describe), [], 'warnings');
  t.deepEqual(DF.getInstructions().filter((i) => i.getKeyword() === 'ADD').map(lineOf), [], 'COPY only: ADD fetches URLs and unpacks archives');
});

test('the base images are Node 20 on Debian bookworm(-slim), stages are named and unique', (t) => {
  t.true(STAGES.length >= 3, 'multi-stage: build, runtime, test');
  const names = STAGES.map((s) => s.name);
  t.deepEqual([...new Set(names)], names, 'stage names are unique');
  for (const s of STAGES) {
    t.false(s.name.startsWith('#'), `every stage is named (FROM ... AS name): ${s.base}`);
    if (s.parent !== null) continue;
    t.regex(s.base, BASE_IMAGE, `stage ${s.name}`);
    t.false(/:latest|^node:20$/.test(s.base), 'a pinned tag');
  }
  for (const name of ['build', 'runtime']) t.regex(stage(name)?.base ?? '', /-bookworm-slim/, `${name} is on the slim image`);
  t.is(stage('runtime')?.parent, null, 'the runtime image starts afresh from the base, not from the build stage');
});

test('every path COPY takes from the build context exists and is not excluded by the .dockerignore', (t) => {
  let fromContext = 0;
  for (const ins of DF.getCOPYs()) {
    const { from, sources, dest } = copyParts(ins);
    t.not(dest, '', `${lineOf(ins)}: a destination`);
    t.true(sources.length > 0, `${lineOf(ins)}: at least one source`);
    if (from !== null) continue;
    for (const src of sources) {
      fromContext++;
      t.false(/[*?[]/.test(src), `${lineOf(ins)}: ${src}: no wildcards (every copied path is checked literally)`);
      t.false(path.posix.isAbsolute(src) || path.posix.normalize(src).startsWith('..'), `${lineOf(ins)}: ${src} is inside the context`);
      t.true(existsSync(path.join(ROOT, src)), `${lineOf(ins)}: ${src} exists in the repository`);
      t.false(dockerIgnored(src), `${lineOf(ins)}: ${src} is excluded by ${DOCKERIGNORE_PATH}`);
    }
  }
  t.true(fromContext > 0);
});

test('COPY --from takes only what the named earlier stage produced', (t) => {
  const binding = JSON.parse(read('binding.gyp')) as { targets: { target_name: string; sources: string[] }[] };
  const addon = `build/Release/${binding.targets[0]?.target_name ?? '?'}.node`;
  const buildConfig = JSON.parse(read('tsconfig.build.json')) as { compilerOptions?: { outDir?: string } };
  const outDir = buildConfig.compilerOptions?.outDir ?? '';
  t.is(PKG.scripts.install, 'node-gyp rebuild', 'npm ci compiles the addon');
  for (const s of STAGES) {
    for (const ins of ofKind(s, 'COPY')) {
      const { from, sources } = copyParts(ins);
      if (from === null) continue;
      const producer = STAGES.slice(0, STAGES.indexOf(s)).find((p) => p.name === from);
      if (producer === undefined) {
        t.fail(`${lineOf(ins)}: --from=${from} is not an earlier stage`);
        continue;
      }
      const root = workdirOf(producer);
      const runs = lineage(producer).flatMap((p) => ofKind(p, 'RUN')).map((r) => r.getArgumentsContent() ?? '');
      const copied = lineage(producer)
        .flatMap((p) => ofKind(p, 'COPY'))
        .map(copyParts)
        .filter((c) => c.from === null);
      for (const src of sources) {
        const rel = path.posix.relative(root, src);
        const made =
          (rel === 'node_modules' && runs.some((r) => /\bnpm ci\b/.test(r))) ||
          (rel === outDir && runs.some((r) => /\bnpm run build\b/.test(r)) && PKG.scripts.build?.includes('tsconfig.build.json') === true) ||
          (rel === addon && runs.some((r) => /\bnpm ci\b/.test(r))) ||
          copied.some((c) => c.sources.includes(rel) && (c.dest === './' || c.dest === '.' || c.dest === `./${rel}`));
        t.true(made, `${lineOf(ins)}: ${src} is made or copied in stage ${from} (WORKDIR ${root})`);
      }
    }
  }
  // The runtime layout is the one the addon loader expects: dist/../build/Release.
  t.regex(read('src/native.ts'), /'\.\.\/build\/Release\/tun\.node'/);
  const runtimeDests = ofKind(stage('runtime')!, 'COPY').map((c) => path.posix.normalize(copyParts(c).dest));
  t.true(runtimeDests.includes(outDir) && runtimeDests.includes(addon), `runtime has ${outDir} and ${addon} side by side: ${runtimeDests.join(', ')}`);
});

test('every RUN, CMD and ENTRYPOINT runs a command the project defines', (t) => {
  for (const s of STAGES) {
    for (const ins of ofKind(s, 'RUN')) {
      const argv = execForm(ins);
      let commands: string[][] = [];
      try {
        commands = argv !== null ? [argv] : shellCommands(ins.getArgumentsContent() ?? '');
      } catch (err) {
        t.fail(`${lineOf(ins)}: ${(err as Error).message}`);
      }
      for (const words of commands) t.is(whyNotDefined(words), null, `${lineOf(ins)}: ${words.join(' ')}`);
    }
    const own = s.instructions.some((i) => i.getKeyword() === 'CMD' || i.getKeyword() === 'ENTRYPOINT');
    if (!own) continue; // a stage only built on, never run
    const { argv, where } = defaultCommand(s);
    t.is(whyNotDefined(argv), null, `stage ${s.name} runs ${argv.join(' ')} (${where})`);
  }
  // The checker is not vacuous.
  t.not(whyNotDefined(['npm', 'run', 'no-such-script']), null);
  t.not(whyNotDefined(['node', CLI_BIN, 'launch']), null);
  t.not(whyNotDefined(['node', CLI_BIN, 'up', '--no-such-flag']), null);
  t.not(whyNotDefined(['bash', '.ci/missing']), null);
  t.not(whyNotDefined(['curl', '-sSL', 'https://example.invalid/install.sh']), null);
});

test('the runtime image has what running needs, plus curl and iproute2, and runs the package bin', (t) => {
  const runtime = stage('runtime');
  if (runtime === undefined) return t.fail('no runtime stage');
  const pkgs = aptPackages(runtime);
  for (const p of ['curl', 'iproute2']) t.true(pkgs.has(p), `runtime installs ${p}`);
  for (const p of ['python3', 'make', 'g++', 'gcc', 'build-essential']) t.false(pkgs.has(p), `no build toolchain in the runtime image (${p})`);
  for (const p of ['python3', 'make', 'g++']) t.true(aptPackages(stage('build')!).has(p), `build installs ${p} for node-gyp`);
  t.deepEqual(ofKind(runtime, 'COPY').filter((c) => copyParts(c).from === null).map(lineOf), [], 'runtime copies only built artefacts, nothing from the source tree');
  const nodeModulesFrom = ofKind(runtime, 'COPY').map(copyParts).find((c) => c.sources.some((s) => s.endsWith('/node_modules')))?.from;
  const modulesStage = nodeModulesFrom == null ? undefined : stage(nodeModulesFrom);
  const pruned = modulesStage === undefined ? [] : lineage(modulesStage).flatMap((p) => ofKind(p, 'RUN')).map((r) => r.getArgumentsContent() ?? '');
  t.true(pruned.some((r) => /npm (prune|ci) .*--omit=dev/.test(r)), `runtime node_modules come from a stage with production dependencies only (${nodeModulesFrom ?? 'none'})`);
  t.deepEqual(defaultCommand(runtime).argv, ['node', CLI_BIN, 'up'], 'runs `tuntcp up`, the package bin');
  t.is(STAGES[STAGES.length - 1]?.name, 'runtime', 'the last stage, so a build without --target gives the runtime image');
});

test('the test target runs the exact script CI runs, with everything that script would install', (t) => {
  const testStage = stage('test');
  if (testStage === undefined) return t.fail('no test stage');
  t.true(existsSync(path.join(ROOT, CI_SCRIPT)), `${CI_SCRIPT} exists`);
  t.deepEqual(defaultCommand(testStage).argv, ['bash', CI_SCRIPT]);
  t.true(
    ofKind(testStage, 'COPY').some((c) => {
      const { from, sources } = copyParts(c);
      return from === null && sources.length === 1 && path.posix.normalize(sources[0]!) === '.';
    }),
    'the test image has the whole tree (COPY . .)',
  );
  const env = envOf(testStage);
  t.is(env.get('CI'), 'true', 'CI=true: missing tools fail instead of skipping');
  t.is(env.get('TUNTCP_NETNS'), '1');
  t.is(env.get('TUNTCP_CONTAINER'), '1');
  // .ci/run installs the tools it needs when they are missing; the image already has them.
  const ci = read(CI_SCRIPT);
  const pairs = /for pair in ([^;\n]+); do/.exec(ci)?.[1]?.trim().split(/\s+/) ?? [];
  t.true(pairs.length > 0, `${CI_SCRIPT} declares its system packages (for pair in cmd:package ...)`);
  const have = aptPackages(testStage);
  const base = new Set(['util-linux']); // Essential in Debian: in every image
  for (const pair of pairs) {
    const pkg = pair.slice(pair.indexOf(':') + 1);
    t.true(have.has(pkg) || base.has(pkg), `the test image installs ${pkg}, which ${CI_SCRIPT} needs`);
  }
});

test('the .dockerignore keeps local state out and lets the test image see every file a clone has', (t) => {
  t.true(existsSync(path.join(ROOT, DOCKERIGNORE_PATH)), `${DOCKERIGNORE_PATH} exists`);
  for (const p of ['.git', 'node_modules', 'node_modules/x', 'build', 'build/Release/tun.node', 'dist', 'dist/cli.js', 'test-artifacts']) t.true(dockerIgnored(p), `${p} is excluded`);
  for (const p of [CI_SCRIPT, 'package.json', 'package-lock.json', 'src', 'test', DOCKERFILE_PATH, 'docker/compose.yaml']) t.false(dockerIgnored(p), `${p} is sent`);
  // The working tree, minus what Git ignores, is what a fresh clone has: all of it must
  // reach the build context, and nothing Git ignores may (it is local state).
  const gitRules = ignoreRules(existsSync(path.join(ROOT, '.gitignore')) ? read('.gitignore') : '', 'git');
  const gitIgnored = (rel: string): boolean => ignoredBy(gitRules, rel);
  const tree = walk((rel) => gitIgnored(rel) || dockerIgnored(rel));
  t.deepEqual(tree.filter((p) => !gitIgnored(p) && dockerIgnored(p)), [], 'files a clone has, excluded from the build context');
  t.deepEqual(tree.filter((p) => gitIgnored(p) && !dockerIgnored(p)), [], 'ignored local files that would be sent to the build context');
});

test('compose runs tuntcp with NET_ADMIN and /dev/net/tun only, and a test service that runs .ci/run', (t) => {
  t.false(/^\s*privileged\s*:\s*(true|yes|on)\b/im.test(COMPOSE), 'never privileged: true');
  t.deepEqual(Object.keys(SERVICES).sort(), ['test', 'tuntcp']);
  for (const [name, raw] of Object.entries(SERVICES)) {
    const svc = asMap(raw);
    t.deepEqual(asList(svc.cap_add), ['NET_ADMIN'], `${name}: cap_add`);
    t.deepEqual(
      asList(svc.devices).map((d) => d.split(':')[0]),
      ['/dev/net/tun'],
      `${name}: devices`,
    );
    for (const key of ['privileged', 'network_mode', 'pid', 'ipc', 'security_opt', 'userns_mode']) t.false(key in svc, `${name}: no ${key}`);
    t.false(
      asList(svc.volumes).some((v) => v.includes('docker.sock') || v.split(':')[0] === '/'),
      `${name}: no host root or docker socket mounts`,
    );
    const build = asMap(svc.build);
    const context = path.resolve(ROOT, 'docker', typeof build.context === 'string' ? build.context : '.');
    t.is(context, ROOT, `${name}: the build context is the repository root`);
    t.is(path.posix.normalize(typeof build.dockerfile === 'string' ? build.dockerfile : ''), DOCKERFILE_PATH, `${name}: builds docker/Dockerfile`);
    const target = typeof build.target === 'string' ? stage(build.target) : undefined;
    t.not(target, undefined, `${name}: build.target is a stage of the Dockerfile`);
    if (target === undefined) continue;
    const command = svc.command === undefined ? null : asList(svc.command);
    const { argv } = defaultCommand(target, command);
    t.is(whyNotDefined(argv), null, `${name} runs ${argv.join(' ')}`);
  }
  const tuntcp = asMap(SERVICES.tuntcp);
  t.is(asMap(tuntcp.build).target, 'runtime');
  const testSvc = asMap(SERVICES.test);
  const target = stage(String(asMap(testSvc.build).target));
  const override = testSvc.command === undefined ? null : asList(testSvc.command);
  t.deepEqual(target === undefined ? [] : defaultCommand(target, override).argv, ['bash', CI_SCRIPT], 'the test service runs .ci/run');
  const env = envMap(testSvc.environment);
  t.is(env.get('TUNTCP_NETNS'), '1', 'the container is the tests network namespace');
  t.is(env.get('TUNTCP_CONTAINER'), '1');
  t.is(env.get('CI'), 'true');
});

test("docker/README.md's commands name the compose file, services and stages that exist", (t) => {
  const readme = read('docker/README.md');
  const commands = readme.split('\n').filter((l) => /^docker (compose|build|run)\b/.test(l));
  t.true(commands.length >= 2);
  for (const line of commands) {
    const words = line.split(/\s+/);
    const file = words[words.indexOf('-f') + 1];
    if (words[1] === 'compose') {
      t.is(file, 'docker/compose.yaml', line);
      const verb = words.findIndex((w, i) => i > 3 && ['up', 'run', 'exec'].includes(w));
      const service = words.slice(verb + 1).find((w) => !w.startsWith('-'));
      t.true(service !== undefined && service in SERVICES, `${line}: service ${service ?? ''}`);
    } else if (words[1] === 'build') {
      t.is(file, DOCKERFILE_PATH, line);
      const target = words[words.indexOf('--target') + 1];
      t.not(stage(target ?? ''), undefined, `${line}: stage ${target ?? ''}`);
    } else {
      t.true(words.includes('NET_ADMIN') && words.includes('/dev/net/tun') && !words.includes('--privileged'), line);
    }
  }
  t.regex(readme, /bash \.ci\/run/);
});
