import {createHash} from 'node:crypto';
import path from 'node:path';
import {withLock} from '../../core/lock.js';
import {boxHome} from '../../core/paths.js';
import type {Ui} from '../../core/ui.js';
import {importArgs} from './args.js';
import type {VBoxManage} from './vboxmanage.js';

/** The snapshot linked clones are made from. */
export const MASTER_SNAPSHOT = 'base';

/** One master VM per box version and store folder: `box-master-<box>-<version>-<hash>`. */
export function masterName(box: {name: string; version: string; dir: string}): string {
  const safe = `${box.name}-${box.version}`.replace(/[^A-Za-z0-9._-]+/g, '-');
  return `box-master-${safe}-${createHash('sha256').update(box.dir).digest('hex').slice(0, 8)}`;
}

/**
 * Linked clones (Vagrant's `linked_clone`): the box is imported ONCE as a master VM with a
 * snapshot, and each machine is a clone whose disk is a differencing image on that snapshot.
 * Parallel `box up`s of the same box take turns through a lock in $BOX_HOME, so only one imports.
 * A master left without its snapshot (a crash between import and snapshot) is completed.
 */
export async function ensureMaster(vbox: VBoxManage, box: {name: string; version: string; dir: string}, ovf: string, options: {ui: Ui; signal: AbortSignal}): Promise<string> {
  const name = masterName(box);
  await withLock(path.join(boxHome(), 'virtualbox', 'masters', name), {what: `the VirtualBox master of ${box.name} ${box.version}`, waitMs: 30 * 60_000, signal: options.signal}, async () => {
    let info = await vbox.vmInfo(name, options.signal);
    if (!info) {
      options.ui.stage('import-master', `${box.name} ${box.version} as ${name} (once per box version)`);
      try {
        await vbox.run(importArgs(ovf, {vmName: name}), {signal: options.signal});
      } catch (error) {
        // A half-imported master would be found and cloned by the next up: remove it.
        if (await vbox.vmInfo(name).catch(() => undefined)) await vbox.run(['unregistervm', name, '--delete'], {retryLocked: true}).catch(() => undefined);
        throw error;
      }
      info = await vbox.vmInfo(name, options.signal);
    }
    if (!info?.snapshots.includes(MASTER_SNAPSHOT)) {
      await vbox.run(['snapshot', name, 'take', MASTER_SNAPSHOT, '--description', 'box: linked clones of this box are made from here'], {signal: options.signal});
    }
  });
  return name;
}
