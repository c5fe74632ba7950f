// Preload (NODE_OPTIONS=--import) that appends the path of every module file the box process
// loads to $BOX_RECORD_MODULES, one a line: ES modules through a loader hook
// (record-modules-hooks.mjs), CommonJS files (require() inside packages, createRequire) through
// the CommonJS resolver. Used by test/core/startup-modules.test.ts.
import {appendFileSync} from 'node:fs';
import {createRequire, register} from 'node:module';

const out = process.env.BOX_RECORD_MODULES;
if (out) {
  register('./record-modules-hooks.mjs', import.meta.url);
  const Module = createRequire(import.meta.url)('node:module');
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (...args) {
    const file = resolve.apply(this, args);
    appendFileSync(out, `${file}\n`);
    return file;
  };
}
