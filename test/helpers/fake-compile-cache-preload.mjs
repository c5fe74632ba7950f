// Preload (NODE_OPTIONS=--import) giving Node 20 the module.enableCompileCache of Node 22.1+: each
// call appends `enableCompileCache <dir>` to $BOX_RECORD_MODULES, the file record-modules.mjs
// writes the loaded modules to, so a test sees when box turned the cache on and with what folder.
import {appendFileSync} from 'node:fs';
import module from 'node:module';

module.enableCompileCache = (dir) => {
  appendFileSync(process.env.BOX_RECORD_MODULES, `enableCompileCache ${dir}\n`);
  return {status: module.constants?.compileCacheStatus?.ENABLED ?? 1, directory: dir};
};
