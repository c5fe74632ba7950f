import {after, before} from 'node:test';
import {takeE2eSlot} from '../helpers/e2e-slot.js';
import {addTestBox, ensureTestBox} from '../helpers/test-box.js';
import {Sandbox} from './harness.js';

/**
 * The setup every guest-booting fault file shares (call it inside `describe`): the machine-wide
 * e2e slot, the cached test box added once to a store, and sandboxes that share that store and
 * are destroyed and removed at the end, whatever happened.
 */
export function guestSuite(label: string, files: Record<string, string>): {store: () => Sandbox; sandbox: (name: string) => Promise<Sandbox>} {
  let release: (() => Promise<void>) | undefined;
  let store: Sandbox | undefined;
  const sandboxes: Sandbox[] = [];

  before(async () => {
    release = await takeE2eSlot();
    await ensureTestBox();
    store = await Sandbox.create(`${label}-store`);
    await addTestBox(store.home);
  });

  after(async () => {
    for (const sandbox of sandboxes) {
      // A machine a failed case left goes through box first (its QEMU, its index entry).
      await sandbox.box(['destroy', '--force']).catch(() => undefined);
      await sandbox.dispose();
    }
    await store?.dispose();
    await release?.();
  });

  return {
    store: () => store!,
    async sandbox(name) {
      const sandbox = await Sandbox.create(`${label}-${name}`, {store: store!.home});
      for (const [file, content] of Object.entries(files)) sandbox.write(file, content);
      sandboxes.push(sandbox);
      sandbox.mark();
      return sandbox;
    },
  };
}
