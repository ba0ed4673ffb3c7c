// Prints each runtime's test counts from vitest's JSON reports, then the total
// as a plain "N passed, N failed" line. Exits 1 when a report is missing or a test failed.
import { existsSync, readFileSync } from "node:fs";
import { basename } from "node:path";

let passed = 0;
let failed = 0;
let skipped = 0;
let ok = true;
for (const file of process.argv.slice(2)) {
  const name = basename(file, ".json");
  if (!existsSync(file)) {
    console.log(`${name}: no report (the run did not finish)`);
    ok = false;
    continue;
  }
  const report = JSON.parse(readFileSync(file, "utf8"));
  const p = report.numPassedTests ?? 0;
  const f = (report.numFailedTests ?? 0) + (report.numFailedTestSuites ?? 0);
  const s = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  console.log(`${name}: ${p} passed, ${f} failed, ${s} skipped`);
  if (p === 0 || f > 0) ok = false;
  passed += p;
  failed += f;
  skipped += s;
}
console.log(`total: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(ok ? 0 : 1);
