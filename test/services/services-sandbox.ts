import {after, afterEach, before, beforeEach} from 'node:test';
import {silentUi} from '../../src/core/ui.js';
import type {Provider} from '../../src/providers/provider.js';
import {registerProvider} from '../../src/providers/registry.js';
import {tempDir} from '../helpers/cli.js';

/**
 * For a describe block of lifecycle service tests: `provider` stands in for the virtualbox
 * target, BOX_HOME is a temp folder for the block, and every test gets a fresh project folder
 * (`project()`, removed after it); `opts()` are the service options for it.
 */
export function servicesSandbox(prefix: string, provider: Provider, beforeEachTest?: () => void) {
  let home: Awaited<ReturnType<typeof tempDir>>;
  let project: Awaited<ReturnType<typeof tempDir>>;
  const previousHome = process.env.BOX_HOME;
  before(async () => {
    home = await tempDir(`${prefix}home-`);
    process.env.BOX_HOME = home.dir;
    registerProvider('virtualbox', async () => provider);
  });
  after(async () => {
    if (previousHome === undefined) delete process.env.BOX_HOME; // assigning undefined would set the string 'undefined'
    else process.env.BOX_HOME = previousHome;
    await home.cleanup();
  });
  beforeEach(async () => {
    project = await tempDir(`${prefix}project-`);
    beforeEachTest?.();
  });
  // Each test's project folder goes with it (they used to pile up in /tmp).
  afterEach(async () => {
    await project?.cleanup();
  });
  return {
    project: () => project.dir,
    opts: (extra: Record<string, unknown> = {}) => ({cwd: project.dir, names: [] as string[], ui: silentUi(), signal: new AbortController().signal, ...extra}),
  };
}
