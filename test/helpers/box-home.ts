import {after, before} from 'node:test';
import path from 'node:path';
import {tempDir} from './cli.js';

/**
 * For test files that call services in-process: a temp folder whose `home` subfolder is BOX_HOME
 * for the whole file (the previous value restored after). Call at the top level of the file.
 */
export function useTempBoxHome(prefix: string): {dir: () => string; home: () => string} {
  let work: Awaited<ReturnType<typeof tempDir>> | undefined;
  let previous: string | undefined;
  before(async () => {
    work = await tempDir(prefix);
    previous = process.env.BOX_HOME;
    process.env.BOX_HOME = path.join(work.dir, 'home');
  });
  after(async () => {
    if (previous === undefined) delete process.env.BOX_HOME;
    else process.env.BOX_HOME = previous;
    await work?.cleanup();
  });
  return {dir: () => work!.dir, home: () => path.join(work!.dir, 'home')};
}
