#!/usr/bin/env node
import {execute} from '@oclif/core';

// box pins its AWS SDK version in package-lock.json; the SDK's Node-version notice is for SDK
// maintainers' users, not ours, and would otherwise appear on every aws command's stderr.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// `box --version --json` keeps the promise every command makes: one JSON document on stdout.
const args = process.argv.slice(2);
if (args.includes('--json') && args.some((a) => a === '--version' || a === '-v') && args.every((a) => ['--json', '--version', '-v'].includes(a))) {
  const {readFileSync} = await import('node:fs');
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`${JSON.stringify({name: 'box', version: pkg.version, node: process.version, platform: `${process.platform}-${process.arch}`}, null, 2)}\n`);
  process.exit(0);
}

await execute({dir: import.meta.url});
