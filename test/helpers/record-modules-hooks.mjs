// Loader hook of record-modules.mjs (runs on Node's loader thread): records each ES module loaded.
import {appendFileSync} from 'node:fs';
import {fileURLToPath} from 'node:url';

export async function load(url, context, next) {
  if (url.startsWith('file:')) appendFileSync(process.env.BOX_RECORD_MODULES, `${fileURLToPath(url)}\n`);
  return next(url, context);
}
