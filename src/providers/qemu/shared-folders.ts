import type {MachineConfig} from '../../boxfile/project.js';
import type {ConnectGuest} from '../shared/private-network.js';
import {createCommunicator} from '../../communicators/ssh/connect.js';
import {runGuestScript} from '../../communicators/run-script.js';
import {BoxError} from '../../core/errors.js';
import type {MachineContext, Provider} from '../provider.js';
import {virtiofsdSocket} from './virtiofsd.js';

/**
 * Synced folders of `type: 9p` and `type: virtiofs`: the guest mounts the host folder itself
 * (live, both ways, nothing copied). QEMU exports each one under a mount tag; once SSH answers,
 * box mounts the tags at every boot (not in /etc/fstab: the export exists only when box starts
 * QEMU with it).
 */
export interface SharedFolder {
  type: '9p' | 'virtiofs';
  /** Absolute host folder. */
  source: string;
  /** Absolute guest path. */
  destination: string;
  /** The mount tag QEMU gives it: `box<i>`, i its index in the machine's synced_folders. */
  tag: string;
  /** virtiofs: virtiofsd's vhost-user socket, which QEMU connects to. */
  socket?: string;
}

/** The machine's shared synced folders (the rsync ones are copies, made elsewhere). */
export function sharedFolders(machine: MachineConfig, dir: string): SharedFolder[] {
  return machine.syncedFolders.flatMap((folder, index) => {
    if (folder.type !== '9p' && folder.type !== 'virtiofs') return [];
    const tag = `box${index}`;
    return [{type: folder.type, source: folder.source, destination: folder.destination, tag, ...(folder.type === 'virtiofs' ? {socket: virtiofsdSocket(dir, index)} : {})}];
  });
}

/**
 * 9p mount options: the Linux 9p2000.L dialect (POSIX semantics), over virtio, with 512 KiB
 * messages (the 8 KiB default makes large reads crawl). No cache: each side sees the other's
 * writes at once.
 */
export const NINEP_MOUNT_OPTIONS = 'trans=virtio,version=9p2000.L,msize=524288,cache=none';

/** The guest script's exit code when its kernel cannot mount the folder's file system. */
export const NO_KERNEL_SUPPORT = 4;

/**
 * Mounts one shared folder (POSIX sh, as root, idempotent): $1 the file system (9p or virtiofs),
 * $2 the tag, $3 the guest folder, $4 mount options. Loads the kernel modules the file system
 * needs when it is not built in; a kernel without them exits NO_KERNEL_SUPPORT naming the
 * kernel. A folder already mounted from the same tag is left alone (an up that only replaced
 * the key); anything else mounted there is an error rather than hidden underneath.
 */
export const mountSharedFolderScript = `fs=$1 tag=$2 dest=$3 opts=$4
if ! grep -qw "$fs" /proc/filesystems; then
  if [ "$fs" = 9p ]; then modprobe 9pnet_virtio 2>/dev/null || :; modprobe 9p 2>/dev/null || :; else modprobe "$fs" 2>/dev/null || :; fi
fi
if ! grep -qw "$fs" /proc/filesystems; then
  mods=$fs; [ "$fs" = 9p ] && mods='9p, 9pnet, 9pnet_virtio'
  echo "box: the guest kernel $(uname -r) has no $fs file system (no $mods module in /lib/modules/$(uname -r), none built in)" >&2
  exit ${NO_KERNEL_SUPPORT}
fi
current=$(awk -v d="$dest" '$2 == d {print $1 " " $3}' /proc/mounts | tail -n 1)
if [ "$current" = "$tag $fs" ]; then exit 0; fi
if [ -n "$current" ]; then echo "box: $dest is already a mount point ($current)" >&2; exit 3; fi
mkdir -p "$dest"
if [ -n "$opts" ]; then mount -t "$fs" -o "$opts" "$tag" "$dest"; else mount -t "$fs" "$tag" "$dest"; fi
`;

/** The script's arguments for one folder. */
export function mountArgs(folder: SharedFolder): string[] {
  return [folder.type, folder.tag, folder.destination, folder.type === '9p' ? NINEP_MOUNT_OPTIONS : ''];
}

/**
 * After SSH answers: mounts every shared folder in the guest over one SSH connection. A guest
 * kernel without the file system fails with ERR_SYNCED_FOLDER_UNSUPPORTED, which says so and
 * names the types that work without it.
 */
export async function mountSharedFolders(ctx: MachineContext, provider: Provider, folders: readonly SharedFolder[], connect: ConnectGuest = createCommunicator): Promise<void> {
  const comm = await connect(await provider.sshInfo(ctx));
  try {
    for (const folder of folders) {
      let output = '';
      const code = await runGuestScript(comm, {inline: mountSharedFolderScript}, {privileged: true, args: mountArgs(folder), signal: ctx.signal, onOutput: (_s, data) => { output += data; }});
      const said = output.trim().split('\n').slice(-3).join(' ') || 'no output';
      if (code === NO_KERNEL_SUPPORT) {
        throw new BoxError('ERR_SYNCED_FOLDER_UNSUPPORTED', `${ctx.machine.name}: cannot mount the ${folder.type} synced folder ${folder.source} at ${folder.destination}: ${said.replace(/^box: /, '')}.`, {
          hint: folder.type === '9p'
            ? 'Use `type: virtiofs` (Debian\'s cloud kernels have it) or `type: rsync` for this folder, or a box whose kernel has 9p (CONFIG_NET_9P_VIRTIO, CONFIG_9P_FS).'
            : 'Use `type: rsync` for this folder, or a box whose kernel has virtiofs (CONFIG_VIRTIO_FS).',
        });
      }
      if (code !== 0) {
        throw new BoxError('ERR_SYNCED_FOLDER', `${ctx.machine.name}: could not mount the ${folder.type} synced folder ${folder.source} at ${folder.destination} (exit ${code}): ${said}`);
      }
    }
  } finally {
    await comm.close();
  }
}
