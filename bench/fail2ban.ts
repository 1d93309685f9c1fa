/**
 * Recognition speed against fail2ban: one generated auth.log (a million lines, mixed kinds, sites
 * and addresses), fail2ban-regex (Debian's fail2ban) with a filter for WP fail2ban's hard and soft
 * lines, and on the same file in the same run: `edgeban replay --count` (read, parse, recognise and
 * count on one thread: the work fail2ban-regex does) and the whole `edgeban replay` (the policy
 * too, and every ban printed; two threads). Reports lines/s for each, both ratios, and whether the
 * matches agree (fail2ban's matched lines = edgeban's hard + soft events). Every time runs from
 * process start to exit. Prints JSON.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, createWriteStream, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { corpus } from './corpus';

const LINES = Number(process.env.BENCH_F2B_LINES ?? 1_000_000);
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

export async function benchFail2ban(): Promise<Record<string, unknown>> {
  const f2b = spawnSync('sh', ['-c', 'command -v fail2ban-regex'], { encoding: 'utf8' }).stdout.trim();
  if (!f2b || !existsSync(COMMON)) return { skipped: 'fail2ban-regex not installed (apt-get install fail2ban)' };
  const dir = mkdtempSync(join(tmpdir(), 'edgeban-f2b-'));
  try {
    const log = join(dir, 'auth.log');
    await writeCorpus(log);
    copyFileSync(COMMON, join(dir, 'common.conf'));
    copyFileSync(FILTER, join(dir, 'wordpress-hard-soft.conf'));
    const fail2ban = timedRun(f2b, [log, join(dir, 'wordpress-hard-soft.conf')], join(dir, 'fail2ban.out'));
    const f2bMatched = Number(/Lines: \d+ lines, \d+ ignored, (\d+) matched/.exec(fail2ban.output)?.[1]);
    const replay = (...args: string[]) => {
      const run = timedRun(process.execPath, [join(ROOT, 'dist/src/cli.js'), 'replay', '--json', ...args, log], join(dir, 'edgeban.out'));
      const summary = JSON.parse(run.output.trim().split('\n').pop()!) as { classes: Record<string, number> };
      const linesPerSecond = Math.round(LINES / run.seconds);
      const matched = (summary.classes.hard ?? 0) + (summary.classes.soft ?? 0);
      return { linesPerSecond, seconds: Number(run.seconds.toFixed(2)), matched, ratio: Number((linesPerSecond / f2bRate).toFixed(1)) };
    };
    const f2bRate = Math.round(LINES / fail2ban.seconds);
    const recognition = replay('--count');
    const whole = replay();
    return {
      lines: LINES,
      fail2banRegex: { linesPerSecond: f2bRate, seconds: Number(fail2ban.seconds.toFixed(2)), matched: f2bMatched },
      edgebanRecognition: { command: 'edgeban replay --count --json', ...recognition, note: "fail2ban-regex's work: read, parse, recognise, count; one thread" },
      edgebanReplay: { command: 'edgeban replay --json', ...whole, note: 'the whole replay: parse, recognise, the policy and every ban printed; two threads' },
      matchesAgree: f2bMatched === recognition.matched && f2bMatched === whole.matched,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) void benchFail2ban().then((result) => console.log(JSON.stringify({ fail2ban: result }, null, 2)));
