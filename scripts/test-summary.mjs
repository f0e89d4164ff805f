// Adds up the Vitest JSON reports that every package's `test` wrote (see the root `test`
// script) and prints the suite's count on one closing line:
//   tests: N passed, N failed, N skipped
// Exits non-zero when a package with tests left no report or any test failed.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const packageDirs = ['apps', 'packages'].flatMap((group) =>
  existsSync(join(root, group)) ? readdirSync(join(root, group)).map((name) => join(root, group, name)) : [],
);

const total = { passed: 0, failed: 0, skipped: 0 };
let missing = 0;
for (const dir of packageDirs.sort()) {
  const manifestPath = join(dir, 'package.json');
  if (!existsSync(manifestPath)) continue;
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  if (!manifest.scripts?.test) continue;
  const reportPath = join(dir, 'test-results', 'vitest.json');
  if (!existsSync(reportPath)) {
    console.log(`${manifest.name}: no test report`);
    missing += 1;
    continue;
  }
  const report = JSON.parse(readFileSync(reportPath, 'utf8'));
  const counts = {
    passed: report.numPassedTests ?? 0,
    // A file that fails to load counts as a failure even though none of its tests ran.
    failed: (report.numFailedTests ?? 0) + (report.numFailedTestSuites ?? 0),
    skipped: (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0),
  };
  console.log(
    `${manifest.name}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`,
  );
  for (const key of Object.keys(total)) total[key] += counts[key];
}
console.log(`tests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(total.failed > 0 || missing > 0 ? 1 : 0);
