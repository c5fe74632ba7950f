import module from 'node:module';
import path from 'node:path';
import {userPaths} from './core/paths.js';

/** Where Node keeps the compiled code of box's modules: box's own cache, not a shared temp folder. */
function compileCacheDir(): string {
  return path.join(userPaths.cache(), 'node-compile');
}

/**
 * Node 22.1+ keeps V8's compiled code of the modules loaded after this call on disk
 * (module.enableCompileCache), so a command's later runs skip most of compiling its JavaScript
 * (issue 15: `box status` on Node 22, pair ratio ~0.9 against no cache). bin/run.js imports
 * this before anything else of box's. The folder is box's own, under BOX_HOME: Node's default
 * lives in the shared temp folder, where another user could plant compiled code.
 * NODE_COMPILE_CACHE (another folder) and NODE_DISABLE_COMPILE_CACHE=1 still win, as Node
 * decides; Node 20 has no such cache and nothing changes there. A cache that cannot be written
 * is Node's silent no-op, never an error.
 */
export function useCompileCache(): void {
  const {enableCompileCache} = module as {enableCompileCache?: (dir?: string) => unknown};
  enableCompileCache?.(compileCacheDir());
}
