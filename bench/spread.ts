/**
 * Several runs of a benchmark into one result: every number becomes `{ median, min, max }` across
 * the runs, anything else is taken from the first run. A figure is the median, never a lucky run;
 * min and max show how much the machine moved meanwhile.
 */
export type Json = Record<string, unknown>;

export interface Spread {
  median: number;
  min: number;
  max: number;
  runs: number;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function combineRuns(runs: unknown[]): unknown {
  const first = runs[0];
  if (typeof first === 'number') {
    const values = runs.filter((run): run is number => typeof run === 'number' && Number.isFinite(run));
    if (values.length === 0) return first;
    const spread: Spread = { median: round(median(values)), min: round(Math.min(...values)), max: round(Math.max(...values)), runs: values.length };
    return spread;
  }
  if (first && typeof first === 'object' && !Array.isArray(first)) {
    const out: Json = {};
    for (const key of Object.keys(first)) out[key] = combineRuns(runs.map((run) => (run && typeof run === 'object' ? (run as Json)[key] : undefined)));
    return out;
  }
  return first;
}

function round(value: number): number {
  return Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 1000) / 1000;
}
