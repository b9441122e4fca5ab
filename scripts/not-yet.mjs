#!/usr/bin/env node
// Placeholder for root scripts whose feature has not landed yet: says so plainly and fails.
const what = process.argv[2] ?? 'this command';
const issue = { demo: 'the demo (issue 7)' }[what];
console.error(`switchyard: '${what}' is not built yet; it arrives with ${issue ?? 'a later issue'}. See README.md.`);
process.exit(1);
