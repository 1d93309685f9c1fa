/**
 * Recognition speed side by side with the tools people use today, on one generated auth.log (a
 * million lines, mixed kinds, sites and addresses) in one run: fail2ban-regex (Debian's fail2ban)
 * with a filter for WP fail2ban's hard and soft lines, CrowdSec's agent with a parser for the same
 * lines (bench/crowdsec/run.ts), `edgeban replay --count` (read, parse, recognise and count: the
 * work the other two do; two threads, as the file is over 96 MiB) and the whole `edgeban replay`
 * (the policy too, and every ban printed; two threads). Reports lines/s for each, edgeban's ratios to both, and whether the
 * matches agree (their matched lines = edgeban's hard + soft events). Every time runs from process
 * start to exit. A tool that is not installed is reported as skipped. Prints JSON.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, createWriteStream, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { corpus } from './corpus';
import { benchCrowdsec } from './crowdsec/run';
import { NODE_FLAGS } from '../src/common/node-flags';

const LINES = Number(process.env.BENCH_SIDE_BY_SIDE_LINES ?? 1_000_000);
const ROOT = resolve(__dirname, '../..');
const FILTER = join(ROOT, 'bench/fail2ban/wordpress-hard-soft.conf');
const COMMON = '/etc/fail2ban/filter.d/common.conf';

async function writeCorpus(file: string): Promise<void> {
  const out = createWriteStream(file);
  for (const line of corpus({ lines: LINES, distinctAddresses: 50_000, form: 'authlog' })) {
    if (!out.write(`${line}\n`)) await new Promise<void>((done) => out.once('drain', () => done()));
  }
  await new Promise<void>((done) => out.end(() => done()));
}

/**
 * Runs a command with its output going to a file, and times it. Into a file, not through a pipe to
 * this process: reading replay's 73 MB of bans here would take CPU from the two cores being measured.
 */
function timedRun(command: string, args: string[], outFile: string): { seconds: number; output: string } {
  const out = openSync(outFile, 'w');
  const start = process.hrtime.bigint();
  const run = spawnSync(command, args, { stdio: ['ignore', out, 'inherit'] });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  closeSync(out);
  if (run.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${run.status}`);
  return { seconds, output: readFileSync(outFile, 'utf8') };
}

/** fail2ban-regex over the file: its time and matched lines, or why it did not run. */
function benchFail2banRegex(log: string, dir: string): { linesPerSecond: number; seconds: number; matched: number } | { skipped: string } {
  const f2b = spawnSync('sh', ['-c', 'command -v fail2ban-regex'], { encoding: 'utf8' }).stdout.trim();
  if (!f2b || !existsSync(COMMON)) return { skipped: 'fail2ban-regex not installed (apt-get install fail2ban)' };
  copyFileSync(COMMON, join(dir, 'common.conf'));
  copyFileSync(FILTER, join(dir, 'wordpress-hard-soft.conf'));
  const run = timedRun(f2b, [log, join(dir, 'wordpress-hard-soft.conf')], join(dir, 'fail2ban.out'));
  const matched = Number(/Lines: \d+ lines, \d+ ignored, (\d+) matched/.exec(run.output)?.[1]);
  return { linesPerSecond: Math.round(LINES / run.seconds), seconds: Number(run.seconds.toFixed(2)), matched };
}

/** `edgeban replay --json [args] FILE`: its time and the hard + soft events of its summary. */
function benchReplay(log: string, dir: string, ...args: string[]): { linesPerSecond: number; seconds: number; matched: number } {
  const run = timedRun(process.execPath, [...NODE_FLAGS, join(ROOT, 'dist/src/cli.js'), 'replay', '--json', ...args, log], join(dir, 'edgeban.out'));
  const summary = JSON.parse(run.output.trim().split('\n').pop()!) as { classes: Record<string, number> };
  return {
    linesPerSecond: Math.round(LINES / run.seconds),
    seconds: Number(run.seconds.toFixed(2)),
    matched: (summary.classes.hard ?? 0) + (summary.classes.soft ?? 0),
  };
}

const times = (edgeban: { linesPerSecond: number }, other: object) =>
  'linesPerSecond' in other ? Number((edgeban.linesPerSecond / (other.linesPerSecond as number)).toFixed(1)) : null;

export async function benchSideBySide(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'edgeban-side-'));
  try {
    const log = join(dir, 'auth.log');
    await writeCorpus(log);
    const fail2banRegex = benchFail2banRegex(log, dir);
    // one tool failing (a port taken between asking for it and binding it) leaves the others' figures
    const crowdsec = await benchCrowdsec(log, LINES, dir).catch((error: Error) => ({ failed: error.message }));
    const recognition = benchReplay(log, dir, '--count');
    const whole = benchReplay(log, dir);
    const matches = [fail2banRegex, crowdsec, recognition, whole].flatMap((run) => ('matched' in run ? [run.matched] : []));
    return {
      lines: LINES,
      fail2banRegex,
      crowdsec,
      edgebanRecognition: {
        command: 'edgeban replay --count --json',
        ...recognition,
        timesFail2banRegex: times(recognition, fail2banRegex),
        timesCrowdsec: times(recognition, crowdsec),
        note: 'the work fail2ban-regex and CrowdSec do here: read, parse, recognise, count; two threads (a file of 96 MiB or more)',
      },
      edgebanReplay: {
        command: 'edgeban replay --json',
        ...whole,
        timesFail2banRegex: times(whole, fail2banRegex),
        timesCrowdsec: times(whole, crowdsec),
        note: 'the whole replay: parse, recognise, the policy and every ban printed; two threads',
      },
      matchesAgree: matches.every((matched) => matched === recognition.matched),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) void benchSideBySide().then((result) => console.log(JSON.stringify({ sideBySide: result }, null, 2)));
