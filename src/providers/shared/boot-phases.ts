/**
 * Where a guest's boot time goes, read from its serial console as box waits for SSH: each line
 * is stamped host-side as it appears, so the phases are wall-clock times (the kernel's own
 * `[ 4.39]` stamps run slow and jump under software emulation). A console that says nothing
 * (most Vagrant boxes boot with GRUB's quiet defaults) gives no phases, never an error.
 */

/** A serial console line and when the host saw it (ms, same clock as the QEMU start given to bootPhases). */
export interface StampedLine {
  at: number;
  text: string;
}

/**
 * Milliseconds from QEMU's start to the first line of each phase; a phase the console did not
 * show is absent. `banner` and `keyReady` are host-side events added by the caller.
 */
export interface BootPhases {
  /** The kernel's first console line (`Linux version ...`). */
  kernel?: number;
  /** The kernel handed over to an initramfs (`Run /init as init process`): absent without one. */
  initrd?: number;
  /** systemd (or another init) on the root file system started. */
  userspace?: number;
  /** The guest's sshd unit was reported started. */
  sshd?: number;
  /** systemd reached multi-user.target. */
  multiUser?: number;
  /** The guest said it took the machine key handed to it through fw_cfg (box-first-boot.service). */
  guestKey?: number;
  /** The host read the SSH server's banner. */
  banner?: number;
  /** The machine key works: taken by the guest at boot, or swapped in over SSH. */
  keyReady?: number;
}

const SSHD_STARTED = /\bStarted (ssh\.service|sshd\.service|OpenBSD Secure Shell server|OpenSSH)/;

const PATTERNS: Array<[Exclude<keyof BootPhases, 'banner' | 'keyReady' | 'guestKey'>, RegExp]> = [
  ['kernel', /\bLinux version \d/],
  ['initrd', /\bRun \/init as init process/],
  ['userspace', /\bsystemd\[1\]: systemd \d|^Welcome to |\bRun \/sbin\/init as init process|\bINIT: version/],
  ['sshd', SSHD_STARTED],
  ['multiUser', /\bReached target (multi-user\.target|Multi-User System)/],
];

/** Terminal colours and carriage returns, as systemd writes them to the console. */
export function plainConsoleText(text: string): string {
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
}

/** Whether a console line says the guest's sshd unit started. */
export function saysSshdStarted(line: string): boolean {
  return SSHD_STARTED.test(plainConsoleText(line));
}

/** The line box's first-boot unit prints once the key is in (see firstBootScript). */
export function guestKeyLine(nonce: string): string {
  return `box-first-boot: machine key installed (${nonce})`;
}

/** The console line of a first boot whose guest has no cloud-init (nothing to wait for). */
export function noCloudInitLine(nonce: string): string {
  return `box-first-boot: no cloud-init (${nonce})`;
}

/** The phases of one boot from its stamped console lines; `startedAt` is when QEMU started. */
export function bootPhases(lines: readonly StampedLine[], startedAt: number, options: {nonce?: string} = {}): BootPhases {
  const phases: BootPhases = {};
  const keyLine = options.nonce === undefined ? undefined : guestKeyLine(options.nonce);
  for (const line of lines) {
    const text = plainConsoleText(line.text);
    const ms = Math.max(0, Math.round(line.at - startedAt));
    for (const [phase, pattern] of PATTERNS) {
      if (phases[phase] === undefined && pattern.test(text)) phases[phase] = ms;
    }
    if (keyLine !== undefined && phases.guestKey === undefined && text.includes(keyLine)) phases.guestKey = ms;
  }
  return phases;
}
