import {openMachines, type LifecycleOptions} from './lifecycle/machines.js';
import {sshConfigBlock} from '../communicators/ssh/openssh.js';

export interface SshConfigResult {
  machines: Array<{name: string; host: string; port: number; user: string; identityFile: string; config: string}>;
  /** Every Host block, ready for `ssh -F`. */
  config: string;
}

/** `box ssh-config`: OpenSSH Host blocks (the Host is the machine name) for created machines. */
export async function sshConfig(options: LifecycleOptions): Promise<SshConfigResult> {
  const {handles} = await openMachines(options);
  const result: SshConfigResult = {machines: [], config: ''};
  for (const handle of handles) {
    // Not-created machines have no port yet: sshInfo throws ERR_NOT_CREATED with the fix.
    const info = await handle.provider.sshInfo(handle.ctx);
    const config = sshConfigBlock(handle.machine.name, info);
    result.machines.push({name: handle.machine.name, host: info.host, port: info.port, user: info.username, identityFile: info.privateKeyPath, config});
  }
  result.config = result.machines.map((m) => m.config).join('\n');
  return result;
}
