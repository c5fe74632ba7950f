import {BoxError} from '../../core/errors.js';

/**
 * VBoxManage's own error text, as the user should see it: its `VBoxManage: error:` lines without
 * the prefix, minus the "Context:" line that quotes VirtualBox's C++ source. Falls back to the
 * last lines of stderr when there is no such line (a crash, a warning only).
 */
export function vboxErrorText(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trimEnd()).filter((l) => l.trim() !== '');
  const errors = lines.filter((l) => /^VBoxManage(\.exe)?: error: /.test(l)).map((l) => l.replace(/^VBoxManage(\.exe)?: error: /, ''))
    .filter((l) => !l.startsWith('Context: '));
  return (errors.length > 0 ? errors : lines.slice(-5)).join('\n');
}

interface Known {
  test: RegExp;
  code: string;
  hint: (command: string) => string;
}

// The failures users actually meet, each with the next step (what Vagrant's driver maps too).
const KNOWN: Known[] = [
  {test: /VERR_VMX_NO_VMX|VERR_SVM_NO_SVM|VERR_VMX_MSR_ALL_VMX_DISABLED|VT-x is (not available|disabled)|AMD-V is (not available|disabled)/, code: 'ERR_VBOX_NO_HWVIRT',
    hint: () => 'VirtualBox needs hardware virtualisation: enable VT-x/AMD-V in the firmware (or nested virtualisation for a VM host), stop KVM guests that hold it, or use `--target qemu`.'},
  {test: /Kernel driver not installed|VERR_VM_DRIVER_NOT_INSTALLED|vboxdrv kernel module is not loaded/, code: 'ERR_VBOX_DRIVER',
    hint: () => 'Load the VirtualBox kernel module: `sudo /sbin/vboxconfig` (Secure Boot may require signing it).'},
  {test: /Could not find a registered machine/, code: 'ERR_VBOX_VM_NOT_FOUND',
    hint: () => 'The VM was removed outside box: run `box destroy` to drop its record, then `box up`.'},
  {test: /is already locked|locked for a session|VBOX_E_INVALID_OBJECT_STATE/, code: 'ERR_VBOX_LOCKED',
    hint: () => 'Another VirtualBox process (the GUI, a second box command) holds the VM; close it and try again.'},
  {test: /already exists/, code: 'ERR_VBOX_EXISTS',
    hint: (command) => command === 'import' || command === 'clonevm'
      ? 'A VM or its folder with that name is already in VirtualBox: remove it (`VBoxManage unregistervm NAME --delete`) or `box destroy` the machine.'
      : 'A rule or setting of that name is already there: check `VBoxManage showvminfo NAME`.'},
  {test: /VERR_FILE_NOT_FOUND|VERR_PATH_NOT_FOUND|Could not open the file|does not exist/, code: 'ERR_VBOX_FILE',
    hint: (command) => command === 'import' ? 'The box is incomplete (its .ovf names a disk that is not there): remove and add it again.' : 'A file VirtualBox needs is missing; check the paths in the error.'},
];

/** A failed VBoxManage call as a typed error quoting VirtualBox. */
export function vboxError(args: readonly string[], exitCode: number | undefined, stderr: string): BoxError {
  const text = vboxErrorText(stderr);
  const command = args[0] ?? '';
  const known = KNOWN.find((k) => k.test.test(stderr));
  return new BoxError(known?.code ?? 'ERR_VBOXMANAGE', `VBoxManage ${command} failed${exitCode === undefined ? '' : ` (exit ${exitCode})`}: ${text || '(no message)'}`, {
    hint: known?.hint(command) ?? 'Run the same VBoxManage command by hand to see more, or `box doctor`.',
    details: {args: [...args], stderr: stderr.slice(-4000)},
  });
}
