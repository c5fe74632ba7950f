import {cloudInitSeedFile} from '../shared/cloud-init-seed.js';

/** File names of the qemu target inside a machine's directory (constants, so tools can find them). */
export const qemuFiles = {
  pid: 'qemu.pid',
  qmp: 'qmp.sock',
  disk: 'disk.qcow2',
  /** The NoCloud seed CD (cloud-init's user-data, meta-data, network-config), when the machine has any. */
  cloudInitSeed: cloudInitSeedFile,
  /** What a box-built guest takes through fw_cfg at boot while its insecure key is in place (see first-boot.ts). */
  firstBoot: 'first-boot.sh',
} as const;
