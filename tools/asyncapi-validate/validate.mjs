// Parses an AsyncAPI document with the official parser (@asyncapi/parser, pinned in
// package-lock.json) and prints its diagnostics. Exits 1 when any diagnostic is an error
// (severity 0) or the document could not be parsed, 2 on bad usage.
//
// Usage: node tools/asyncapi-validate/validate.mjs docs/asyncapi.json

import { readFile } from 'node:fs/promises';
import { Parser } from '@asyncapi/parser';

const SEVERITIES = ['error', 'warning', 'info', 'hint'];

const path = process.argv[2];
if (!path) {
  console.error('usage: node validate.mjs <asyncapi document>');
  process.exit(2);
}

const text = await readFile(path, 'utf8');
const { document, diagnostics } = await new Parser().parse(text);

const counts = [0, 0, 0, 0];
for (const diagnostic of diagnostics) {
  counts[diagnostic.severity] += 1;
  const where = diagnostic.path.length > 0 ? diagnostic.path.join('.') : '(root)';
  console.log(`${SEVERITIES[diagnostic.severity]} ${diagnostic.code} at ${where}: ${diagnostic.message}`);
}
console.log(
  `${path}: ${counts[0]} errors, ${counts[1]} warnings, ${counts[2]} infos, ${counts[3]} hints` +
    (document ? `, ${document.operations().length} operations, ${document.messages().length} messages` : ''),
);
process.exit(counts[0] > 0 || !document ? 1 : 0);
