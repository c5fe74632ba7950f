import {existsSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

let root: string | undefined;

/**
 * The folder of the box package this code runs from: the nearest one above this module holding a
 * package.json. The same answer from src/ (tests, bin/dev.js) and from the bundle, where this code
 * lands in a chunk of dist/ at whatever depth esbuild puts it; so templates/, schemas/ and
 * package.json are found from here, never by counting `..` from a module's own place.
 */
export function packageRoot(): string {
  if (root) return root;
  const start = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return (root = dir);
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${start}: box's files are incomplete`);
  }
}
