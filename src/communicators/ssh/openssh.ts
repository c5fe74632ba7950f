import type {SshInfo} from '../communicator.js';

/**
 * Options for the system's OpenSSH client. Host keys of local guests change on every recreate
 * (and cloned boxes share them), so they are not recorded, as Vagrant does for its machines.
 */
export function sshOptions(info: SshInfo): string[] {
  return [
    ...sshCommonOptions(),
    '-i', info.privateKeyPath,
    '-p', String(info.port),
  ];
}

/** The `-o` options of every box machine (what ansible's ssh_common_args carries). */
export function sshCommonOptions(): string[] {
  return [
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'LogLevel=ERROR',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'PasswordAuthentication=no',
  ];
}

/** box's options for an `ssh` that must never prompt and reads no user ssh_config (rsync's `-e`, a master connection). */
export function batchSshOptions(info: SshInfo): string[] {
  return ['-F', '/dev/null', ...sshOptions(info), '-o', 'BatchMode=yes'];
}

/** argv for `ssh` (without the binary): interactive when `command` is absent. */
export function sshArgs(info: SshInfo, options: {command?: string; tty?: boolean; batch?: boolean; connectTimeout?: number} = {}): string[] {
  return [
    '-F', '/dev/null',
    ...sshOptions(info),
    ...(options.batch ? ['-o', 'BatchMode=yes'] : []),
    ...(options.connectTimeout ? ['-o', `ConnectTimeout=${options.connectTimeout}`] : []),
    ...(options.tty ? ['-t'] : []),
    `${info.username}@${info.host}`,
    ...(options.command === undefined ? [] : ['--', options.command]),
  ];
}

/** A Host block for `ssh -F FILE HOST`, ansible's ssh_args and the like. */
export function sshConfigBlock(host: string, info: SshInfo): string {
  return [
    `Host ${host}`,
    `  HostName ${info.host}`,
    `  User ${info.username}`,
    `  Port ${info.port}`,
    '  UserKnownHostsFile /dev/null',
    '  StrictHostKeyChecking no',
    '  PasswordAuthentication no',
    `  IdentityFile "${info.privateKeyPath}"`,
    '  IdentitiesOnly yes',
    '  LogLevel ERROR',
    '',
  ].join('\n');
}
