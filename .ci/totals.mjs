// Prints vitest's totals from its JSON report as "N passed, N failed[, N skipped]".
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'test-results/vitest.json';
let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch (e) {
  console.log('0 passed, 1 failed');
  console.error(`no vitest report at ${file}: ${e.message}`);
  process.exit(1);
}
const passed = report.numPassedTests ?? 0;
const failed = report.numFailedTests ?? 0;
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
const suitesFailed = report.numFailedTestSuites ?? 0;
let line = `${passed} passed, ${failed} failed`;
if (skipped) line += `, ${skipped} skipped`;
console.log(line);
if (suitesFailed > 0) console.error(`${suitesFailed} test suite(s) failed`);
if (passed === 0 || failed > 0 || suitesFailed > 0) process.exit(1);
