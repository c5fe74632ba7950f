/** File names of the qemu target inside a machine's directory (constants, so tools can find them). */
export const qemuFiles = {
  pid: 'qemu.pid',
  qmp: 'qmp.sock',
  disk: 'disk.qcow2',
} as const;
