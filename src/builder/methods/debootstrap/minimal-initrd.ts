import {open, readFile} from 'node:fs/promises';
import path from 'node:path';
import {gzipSync} from 'node:zlib';
import {BoxError} from '../../../core/errors.js';
import {cpioNewc, type CpioEntry} from './cpio.js';

/**
 * box's own initrd for direct kernel boot (`debootstrap.direct_boot_initrd: minimal`): a static
 * busybox, the template's `initramfs_modules` with their dependencies, and the /init below.
 * initramfs-tools' initrd runs udev and its script framework to find a disk whose drivers box
 * already knows; under TCG that was 3–4 s of every boot (docs/build.md).
 */

/**
 * A shell function of the initrd: `root_needs_check DEVICE` prints why root's file system needs
 * e2fsck before it is written to, or nothing when `e2fsck -p` would only say "clean". It reads
 * the ext2/3/4 superblock (little-endian fields from byte 1024): not its magic (another file
 * system: let fsck decide), a state other than "cleanly unmounted, no errors" (an error that
 * errors=remount-ro recorded, or ext2 not unmounted), a journal still to replay, or a periodic
 * check that is due or configured (mount count, interval). Exported for its unit test.
 */
export const ROOT_NEEDS_CHECK = `root_needs_check() {
  set -- $(od -An -tu2 -j1076 -N8 "$1") $(od -An -tu4 -j1092 -N4 "$1") $(od -An -tu4 -j1120 -N4 "$1")
  [ "$#" -eq 6 ] || { echo "its superblock could not be read"; return; }
  [ "$3" -eq 61267 ] || { echo "it is not ext2/3/4"; return; }
  [ "$4" -eq 1 ] || { echo "its superblock records errors or an unclean unmount (state $4)"; return; }
  [ $(($6 & 4)) -eq 0 ] || { echo "its journal needs replaying"; return; }
  [ "$5" -eq 0 ] || { echo "it has a check interval"; return; }
  [ "$2" -eq 0 ] || [ "$2" -ge 32768 ] || [ "$1" -lt "$2" ] || echo "its mount count reached $2"
}`;

/**
 * The initrd's /init. Root is mounted read-write when the kernel command line says `rw` (the last
 * of `rw`/`ro` wins, as for the kernel), has no `fsck.mode=force`, and its file system needs no
 * check (ROOT_NEEDS_CHECK): systemd-fsck-root then skips itself (it runs
 * only on a read-only root), which was ~0.8 s of every boot under TCG, on the way to sshd.
 * Otherwise root is mounted read-only, as dracut does, and systemd checks it (systemd-fsck-root)
 * and remounts it read-write from /etc/fstab, which the image step writes: a file system that
 * recorded an error is still repaired at the next boot. A failure prints why on the console and
 * leaves a shell there, as initramfs-tools does.
 */
export const MINIMAL_INIT = `#!/bin/busybox sh
# box's minimal initrd: load the root disk's drivers, mount root (read-write only if it needs no
# fsck), hand over to its init.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() {
  echo "box initrd: $*" >&2
  echo "box initrd: modules loaded: $(cut -d' ' -f1 /proc/modules | tr '\\n' ' ')" >&2
  exec sh
}
${ROOT_NEEDS_CHECK}
root='' fstype='' flags='' init=/sbin/init mode=ro force_check=''
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    rw) mode=rw ;;
    ro) mode=ro ;;
    fsck.mode=force) force_check=1 ;;
    root=*) root="\${arg#root=}" ;;
    rootfstype=*) fstype="\${arg#rootfstype=}" ;;
    rootflags=*) flags="\${arg#rootflags=}" ;;
    init=*) init="\${arg#init=}" ;;
  esac
done
while read -r module; do
  insmod "/lib/modules/$module" || echo "box initrd: could not load $module" >&2
done < /lib/modules/load-order
case "$root" in
  UUID=*|LABEL=*) ;;
  /dev/*) ;;
  *) fail "root=$root: this initrd finds root by UUID=, LABEL= or a /dev path" ;;
esac
# The disk's driver probes in the background: wait for it, up to 30 s.
tries=0
until dev="$(findfs "$root" 2>/dev/null || { [ -b "$root" ] && echo "$root"; })" && [ -n "$dev" ]; do
  tries=$((tries + 1))
  [ "$tries" -gt 3000 ] && fail "no disk with root=$root after 30 s"
  usleep 10000
done
if [ "$mode" = rw ]; then
  why="$(root_needs_check "$dev")"
  [ -z "$force_check" ] || why='fsck.mode=force'
  [ -z "$why" ] || { echo "box initrd: root ($dev) is mounted read-only for systemd-fsck-root: $why" >&2; mode=ro; }
fi
mount -o "$mode\${flags:+,$flags}" \${fstype:+-t "$fstype"} "$dev" /root || fail "could not mount $dev (root=$root) on /root"
[ -x "/root$init" ] || [ -L "/root$init" ] || fail "no $init on $dev"
mount --move /dev /root/dev
umount /sys /proc
exec switch_root /root "$init" "$@"
`;

/** A module's name as modprobe compares them: no folder, no .ko suffix, dashes as underscores. */
function moduleName(file: string): string {
  return path.basename(file).replace(/\.ko(\.(xz|zst|gz))?$/, '').replaceAll('-', '_');
}

/**
 * The modules to load, as paths under /lib/modules/VERSION, each after the modules it needs
 * (from depmod's modules.dep). Modules built into the kernel (modules.builtin) need no loading.
 */
export function moduleLoadOrder(wanted: string[], modulesDep: string, modulesBuiltin: string): string[] {
  const deps = new Map<string, {file: string; needs: string[]}>();
  for (const line of modulesDep.split('\n')) {
    const [file, rest] = line.split(':');
    if (!file || rest === undefined) continue;
    deps.set(moduleName(file), {file, needs: rest.trim().split(/\s+/).filter(Boolean).map(moduleName)});
  }
  const builtin = new Set(modulesBuiltin.split('\n').filter(Boolean).map(moduleName));
  const order: string[] = [];
  const placed = new Set<string>();
  const visit = (name: string, wantedBy?: string): void => {
    if (builtin.has(name) || placed.has(name)) return;
    const entry = deps.get(name);
    if (!entry) {
      throw new BoxError('ERR_BUILD_STEP', `debootstrap.initramfs_modules: the kernel has no module ${name}${wantedBy ? ` (needed by ${wantedBy})` : ''}, neither loadable nor built in.`, {
        hint: 'Check the module name against /lib/modules/VERSION/modules.dep in the guest.',
      });
    }
    if (/\.ko\.(xz|zst|gz)$/.test(entry.file)) {
      throw new BoxError('ERR_BUILD_STEP', `debootstrap.direct_boot_initrd: minimal does not support compressed kernel modules yet (${entry.file}).`, {
        hint: 'Use direct_boot_initrd: initramfs-tools with this kernel.',
      });
    }
    for (const need of entry.needs) visit(need, name);
    placed.add(name);
    order.push(entry.file);
  };
  for (const name of wanted) visit(moduleName(name));
  return order;
}

/** True when the ELF file asks for no program interpreter (PT_INTERP): it runs with no libc beside it. */
async function isStaticElf(file: string): Promise<boolean> {
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return false;
  try {
    const head = Buffer.alloc(64);
    await handle.read(head, 0, 64, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2) return false; // ELF, 64-bit
    const phoff = Number(head.readBigUInt64LE(0x20));
    const phentsize = head.readUInt16LE(0x36);
    const phnum = head.readUInt16LE(0x38);
    const table = Buffer.alloc(phentsize * phnum);
    await handle.read(table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) if (table.readUInt32LE(i * phentsize) === 3) return false; // PT_INTERP
    return true;
  } finally {
    await handle.close();
  }
}

/** The gzip'd initrd for kernel VERSION of the root file system at `rootfs`. */
export async function buildMinimalInitrd(rootfs: string, version: string, modules: string[]): Promise<Buffer> {
  const busybox = path.join(rootfs, 'bin/busybox');
  if (!(await isStaticElf(busybox))) {
    throw new BoxError('ERR_BUILD_STEP', `debootstrap.direct_boot_initrd: minimal needs a static busybox at /bin/busybox in the guest; ${busybox} is missing or dynamically linked.`, {
      hint: 'Add busybox-static to debootstrap.packages in the template.',
    });
  }
  const modulesDir = path.join(rootfs, 'lib/modules', version);
  const read = (f: string) => readFile(path.join(modulesDir, f), 'utf8').catch(() => '');
  const modulesDep = await read('modules.dep');
  if (!modulesDep && modules.length > 0) {
    throw new BoxError('ERR_BUILD_STEP', `debootstrap.direct_boot_initrd: minimal needs ${path.join(modulesDir, 'modules.dep')}, which is missing or empty.`, {
      hint: 'The kernel package runs depmod when it is installed; check that its installation finished in the debootstrap output.',
    });
  }
  const order = moduleLoadOrder(modules, modulesDep, await read('modules.builtin'));
  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'lib', 'lib/modules', 'proc', 'sys', 'root'].map((p): CpioEntry => ({type: 'dir', path: p})),
    // The kernel opens /dev/console for /init's output before /init mounts devtmpfs.
    {type: 'char', path: 'dev/console', major: 5, minor: 1},
    {type: 'file', path: 'bin/busybox', data: await readFile(busybox), mode: 0o755},
    {type: 'file', path: 'init', data: Buffer.from(MINIMAL_INIT), mode: 0o755},
    {type: 'file', path: 'lib/modules/load-order', data: Buffer.from(order.map((f) => path.basename(f)).join('\n') + '\n')},
  ];
  for (const file of order) entries.push({type: 'file', path: `lib/modules/${path.basename(file)}`, data: await readFile(path.join(modulesDir, file))});
  return gzipSync(cpioNewc(entries), {level: 6});
}
