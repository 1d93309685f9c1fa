/**
 * A second thread for `replay --count` that takes segments from the shared cursor, as the real one
 * does, then dies before it answers: what it took must be counted again by the first thread.
 */
import { workerData } from 'node:worker_threads';
import { CountWorkerData, SegmentCursor, segmentsIn } from '../../src/replay/count-segments';

const data = workerData as CountWorkerData;
const cursor = new SegmentCursor(data.shared);
let taken = 0;
while (taken < 3 && cursor.take() < segmentsIn(data)) taken++;
throw new Error(`died holding ${taken} segments`);
