#!/usr/bin/env node

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

// `box --version` prints what oclif prints (its user agent: name/version platform-arch node-version)
// without loading @oclif/core, which costs more than the rest of start-up. oclif answers when the
// first argument is --version; on WSL it says `wsl` for the platform, so there it still answers.
if (args[0] === '--version' && !(await onWsl())) {
  const {readFileSync} = await import('node:fs');
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  const arch = process.arch === 'ia32' ? 'x86' : process.arch;
  process.stdout.write(`${pkg.name}/${pkg.version} ${process.platform}-${arch} node-${process.version}\n`);
  process.exit(0);
}

// @oclif/core checks Node against its own `engines` (node >=18) when it loads, with semver (~50
// files, a twentieth of `box status`); box needs Node 20.5, so the check can never fire. Skipped,
// and the variable not handed on to the tools box runs.
const skipEngineCheck = process.env.OCLIF_DISABLE_ENGINE_WARNING === undefined;
if (skipEngineCheck) process.env.OCLIF_DISABLE_ENGINE_WARNING = 'true';
// Node 22.1+: compiled code of what follows is kept on disk (dist/compile-cache.js says where).
(await import('../dist/compile-cache.js')).useCompileCache();
const {execute} = await import('../dist/run.js');
if (skipEngineCheck) delete process.env.OCLIF_DISABLE_ENGINE_WARNING;
await execute({dir: import.meta.url});

/** The signs of WSL that oclif's platform check (the is-wsl package) looks for. */
async function onWsl() {
  if (process.platform !== 'linux') return false;
  const [{existsSync, readFileSync}, os] = await Promise.all([import('node:fs'), import('node:os')]);
  if (os.release().toLowerCase().includes('microsoft')) return true;
  try {
    if (readFileSync('/proc/version', 'utf8').toLowerCase().includes('microsoft')) return true;
  } catch {
    // no /proc: not WSL
  }
  return existsSync('/proc/sys/fs/binfmt_misc/WSLInterop') || existsSync('/run/WSL');
}
