import {tryRun} from '../../core/exec.js';
import type {Check, TargetReport} from '../target.js';
import {locateVBoxManage} from './vboxmanage.js';

export async function virtualboxReport(): Promise<TargetReport> {
  // The same VBoxManage the provider will run (VBOX_MANAGE, else PATH); its version is the last
  // line, after any warning such as "vboxdrv kernel module is not loaded".
  const binary = locateVBoxManage();
  const out = await tryRun(binary, ['--version'], {timeoutMs: 10_000});
  const version = (out ?? '').trim().split('\n').at(-1)?.trim() ?? '';
  const noDriver = /vboxdrv kernel module is not loaded|Kernel driver not installed/.test(out ?? '');
  const vbox: Check = out === null
    ? {name: 'VBoxManage', ok: false, detail: `${binary} not found${binary === 'VBoxManage' ? ' on PATH' : ''}`, hint: 'Install VirtualBox 7 from your distribution or virtualbox.org; `VBoxManage` must be on PATH (or set VBOX_MANAGE to its path).'}
    : noDriver
      ? {name: 'VBoxManage', ok: false, detail: `${version} (${binary}), but the vboxdrv kernel module is not loaded`, hint: 'Run `sudo /sbin/vboxconfig` (Secure Boot may require signing the module).'}
      : {name: 'VBoxManage', ok: true, detail: `${version} (${binary})`};
  return {target: 'virtualbox', usable: vbox.ok, summary: vbox.ok ? `VirtualBox ${version}` : out === null ? 'VirtualBox is not installed' : 'VirtualBox is installed but its kernel module is not loaded', checks: [vbox]};
}
