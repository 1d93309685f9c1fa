/** The second thread of `replay --count` (see count.ts): counts the segments it takes, and answers with its counts once none is left. */
import { closeSync, openSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { countSegments, CountWorkerData, SegmentCursor } from './count-segments';

async function serve(): Promise<void> {
  const { path, shared, ...source } = workerData as CountWorkerData;
  const cursor = new SegmentCursor(shared);
  const fd = openSync(path, 'r');
  try {
    const counts = await countSegments(
      { ...source, fd },
      () => cursor.take(),
      (_index, lines) => (cursor.linesOfHelper = lines),
    );
    parentPort!.postMessage(counts);
  } finally {
    closeSync(fd);
  }
}

void serve();
