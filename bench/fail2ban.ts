/**
 * Recognition speed against fail2ban: one generated auth.log (a million lines, mixed kinds, sites
 * and addresses), fail2ban-regex (Debian's fail2ban) with a filter for WP fail2ban's hard and soft
 * lines, and on the same file in the same run: `edgeban replay` (parse, recognise, the policy and
 * every ban printed, two threads), and edgeban's parser and recogniser alone on one thread
 * (recognise-file: read, parse, recognise and count, the work fail2ban-regex does). Reports
 * lines/s for each, both ratios, and whether the matches agree (fail2ban's matched lines =
 * edgeban's hard + soft events). Every time runs from process start to exit. Prints JSON.
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
    const edgeban = timedRun(process.execPath, [join(ROOT, 'dist/src/cli.js'), 'replay', '--json', log], join(dir, 'edgeban.out'));
    const summary = JSON.parse(edgeban.output.trim().split('\n').pop()!) as { lines: number; classes: Record<string, number> };
    const edgebanMatched = (summary.classes.hard ?? 0) + (summary.classes.soft ?? 0);
    const recognition = timedRun(process.execPath, [join(__dirname, 'recognise-file.js'), log], join(dir, 'recognise.out'));
    const counted = JSON.parse(recognition.output) as { lines: number; classes: Record<string, number> };
    const recognitionMatched = (counted.classes.hard ?? 0) + (counted.classes.soft ?? 0);
    const f2bRate = Math.round(LINES / fail2ban.seconds);
    const edgebanRate = Math.round(LINES / edgeban.seconds);
    const recognitionRate = Math.round(LINES / recognition.seconds);
    return {
      lines: LINES,
      fail2banRegex: { linesPerSecond: f2bRate, seconds: Number(fail2ban.seconds.toFixed(2)), matched: f2bMatched },
      edgebanReplay: { linesPerSecond: edgebanRate, seconds: Number(edgeban.seconds.toFixed(2)), matched: edgebanMatched, note: 'full replay: parse, recognise, policy and every ban printed; two threads' },
      edgebanRecognition: {
        linesPerSecond: recognitionRate,
        seconds: Number(recognition.seconds.toFixed(2)),
        matched: recognitionMatched,
        note: "fail2ban-regex's work: read, parse, recognise, count; one thread",
      },
      ratio: Number((edgebanRate / f2bRate).toFixed(1)),
      recognitionRatio: Number((recognitionRate / f2bRate).toFixed(1)),
      matchesAgree: f2bMatched === edgebanMatched && f2bMatched === recognitionMatched,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) void benchFail2ban().then((result) => console.log(JSON.stringify({ fail2ban: result }, null, 2)));
