import os from 'node:os';
import path from 'node:path';

/**
 * Where box keeps its data. `BOX_HOME` moves all user-level data (boxes, caches, the machine
 * index, user config); project data lives in `<project>/.box/`.
 */
export function boxHome(): string {
  return process.env.BOX_HOME ? path.resolve(process.env.BOX_HOME) : path.join(os.homedir(), '.box');
}

export const userPaths = {
  boxes: () => path.join(boxHome(), 'boxes'),
  cache: () => path.join(boxHome(), 'cache'),
  downloads: () => path.join(boxHome(), 'cache', 'downloads'),
  config: () => path.join(boxHome(), 'config.yaml'),
  machineIndex: () => path.join(boxHome(), 'machines.json'),
  insecureKey: () => path.join(boxHome(), 'insecure_private_key'),
};

/**
 * File names inside a machine's directory are constants (as in Lima) so tools can find them.
 * These are the ones every target shares; a target's own live in its folder (qemu/files.ts).
 */
export const machineFiles = {
  state: 'state.json',
  serialLog: 'serial.log',
  privateKey: 'id_ed25519',
  publicKey: 'id_ed25519.pub',
  lock: 'machine',
} as const;

export function projectStateDir(projectRoot: string): string {
  return path.join(projectRoot, '.box');
}

export function machineDir(projectRoot: string, machine: string): string {
  return path.join(projectStateDir(projectRoot), 'machines', machine);
}

/** Vagrant's store layout: `/` in a box name is written as `-VAGRANTSLASH-`. */
export function boxDirName(name: string): string {
  return name.replaceAll('/', '-VAGRANTSLASH-');
}

export function boxNameFromDir(dir: string): string {
  return dir.replaceAll('-VAGRANTSLASH-', '/');
}
