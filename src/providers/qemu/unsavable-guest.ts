import {UsageError} from '../../core/errors.js';

type Folder = {type: string; destination?: string};

/**
 * What keeps QEMU from saving a running guest (migration, and with it `box suspend` and live
 * snapshots): a vhost-user-fs device (virtiofs) always, a 9p export once the guest mounted it
 * (as box does at every up), and an NVMe disk (QEMU 7.2 marks its controller unmigratable: a box
 * whose metadata says `disk_bus: nvme`). Refused before anything is touched.
 */
export function refuseUnsavableGuest(machine: string, guest: {folders: readonly Folder[]; diskBus?: string}, refusal: {code: string; cannot: string; hint: string}): void {
  const shared = guest.folders.filter((f) => f.type === 'virtiofs' || f.type === '9p');
  const reasons: string[] = [];
  if (shared.length > 0) {
    const types = [...new Set(shared.map((f) => f.type))].join(' and ');
    const destinations = [...new Set(shared.map((f) => f.destination ?? '?'))].join(', ');
    reasons.push(`it has ${types} synced folders (${destinations}), and QEMU cannot save a guest with a live shared folder (vhost-user-fs, or a mounted 9p export)`);
  }
  if (guest.diskBus === 'nvme') reasons.push('its disk is on an NVMe controller (its box says disk_bus: nvme), whose state QEMU cannot save');
  if (reasons.length === 0) return;
  throw new UsageError(refusal.code, `${machine} ${refusal.cannot}: ${reasons.join('; ')}. Nothing was changed.`, {hint: refusal.hint});
}
