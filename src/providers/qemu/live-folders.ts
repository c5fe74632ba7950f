import {UsageError} from '../../core/errors.js';

type Folder = {type: string; destination?: string};

/**
 * Live shared folders block QEMU from saving a running guest (migration, and with it `box
 * suspend` and live snapshots): a vhost-user-fs device (virtiofs) always, a 9p export once the
 * guest mounted it (as box does at every up). Refused before anything is touched.
 */
export function refuseLiveSharedFolders(machine: string, folders: readonly Folder[], refusal: {code: string; cannot: string; hint: string}): void {
  const shared = folders.filter((f) => f.type === 'virtiofs' || f.type === '9p');
  if (shared.length === 0) return;
  const types = [...new Set(shared.map((f) => f.type))].join(' and ');
  const destinations = [...new Set(shared.map((f) => f.destination ?? '?'))].join(', ');
  throw new UsageError(refusal.code, `${machine} ${refusal.cannot}: it has ${types} synced folders (${destinations}), and QEMU cannot save a guest with a live shared folder (vhost-user-fs, or a mounted 9p export). Nothing was changed.`, {hint: refusal.hint});
}
