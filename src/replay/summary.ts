import type { PipelineStats } from '../decode/line-counter';
import type { ByteOutput } from './output';

/** The last line(s): counts, and with `counted` (--count) events by kind instead of bans. */
export async function printSummary(out: ByteOutput, stats: PipelineStats, json: boolean, counted: boolean): Promise<void> {
  const ignored = stats.ignored.toObject();
  for (const [reason, count] of Object.entries(stats.rejected.toObject())) if (reason !== 'not_wordpress') ignored[reason] = count;
  const classes = stats.classes.toObject();
  if (json) {
    const { lines, events, bans } = stats;
    await out.line(
      JSON.stringify(
        counted
          ? { type: 'summary', lines, events, ignored, classes, kinds: stats.kinds.toObject() }
          : { type: 'summary', lines, events, bans, ignored, classes },
      ),
    );
  } else if (counted) {
    await out.line(`${stats.lines} lines, ${stats.events} events`);
    for (const [name, count] of Object.entries(classes)) await out.line(`  class ${name}: ${count}`);
    for (const [name, count] of Object.entries(stats.kinds.toObject())) await out.line(`  kind ${name}: ${count}`);
    for (const [reason, count] of Object.entries(ignored)) await out.line(`  ignored ${reason}: ${count}`);
  } else {
    await out.line(`${stats.lines} lines, ${stats.events} events, ${stats.bans} bans`);
    for (const [reason, count] of Object.entries(ignored)) await out.line(`  ignored ${reason}: ${count}`);
  }
  await out.flush();
}
