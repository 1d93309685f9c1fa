import { renderBenchmarks } from '../bench/report';
import { combineRuns, median } from '../bench/spread';

test('several runs become medians with their min and max; text is taken from the first run', () => {
  const runs = [
    { ingest: { tcp1: { messagesPerSecond: 500, transport: 'tcp' } }, lost: 0 },
    { ingest: { tcp1: { messagesPerSecond: 300, transport: 'tcp' } }, lost: 2 },
    { ingest: { tcp1: { messagesPerSecond: 900, transport: 'tcp' } }, lost: 1 },
  ];
  expect(combineRuns(runs)).toEqual({
    ingest: { tcp1: { messagesPerSecond: { median: 500, min: 300, max: 900, runs: 3 }, transport: 'tcp' } },
    lost: { median: 1, min: 0, max: 2, runs: 3 },
  });
  expect(median([4, 1, 3, 2])).toBe(2.5);
});

test('the benchmarks page shows a median with its spread', () => {
  const page = renderBenchmarks({ ingest: { tcp1: { messagesPerSecond: { median: 500_000, min: 300_000, max: 900_000, runs: 5 } } } });
  expect(page).toContain('| 500,000 msg/s (300,000 – 900,000) |');
});
