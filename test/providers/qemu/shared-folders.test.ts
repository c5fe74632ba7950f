import assert from 'node:assert/strict';
import {chmod, mkdir, readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {describe, test} from 'node:test';
import {execa} from 'execa';
import {mountArgs, mountSharedFolderScript, NINEP_MOUNT_OPTIONS, NO_KERNEL_SUPPORT, sharedFolders} from '../../../src/providers/qemu/shared-folders.js';
import {virtiofsdArgs, virtiofsdOfMachine, virtiofsdSocket} from '../../../src/providers/qemu/virtiofsd.js';
import type {MachineConfig} from '../../../src/boxfile/project.js';
import {tempDir} from '../../helpers/cli.js';

/**
 * The mount script run by the host's sh (it reads the host's real /proc/filesystems and
 * /proc/mounts), with `modprobe` and `mount` replaced by recorders on PATH: the guest runs the
 * same text as root.
 */
async function runMount(dir: string, args: string[]): Promise<{exitCode: number; stderr: string; calls: string[]}> {
  const bin = path.join(dir, 'bin');
  const calls = path.join(dir, 'calls');
  await mkdir(bin, {recursive: true});
  for (const tool of ['modprobe', 'mount']) {
    await writeFile(path.join(bin, tool), `#!/bin/sh\necho "${tool} $*" >> ${calls}\n[ ${tool} = mount ] || exit 1\n`);
    await chmod(path.join(bin, tool), 0o755);
  }
  await writeFile(calls, '');
  const result = await execa('sh', ['-ec', mountSharedFolderScript, 'sh', ...args], {reject: false, env: {PATH: `${bin}:${process.env.PATH}`}});
  return {exitCode: result.exitCode ?? -1, stderr: String(result.stderr), calls: (await readFile(calls, 'utf8')).split('\n').filter(Boolean)};
}

describe('shared synced folders (9p, virtiofs) on the qemu target', () => {
  test('only the 9p and virtiofs folders are shared, tagged by their index; virtiofs ones get a socket in the machine folder', () => {
    const machine = {syncedFolders: [
      {source: '/src/copy', destination: '/srv/copy', type: 'rsync', exclude: []},
      {source: '/src/a', destination: '/srv/a', type: '9p', exclude: []},
      {source: '/src/b', destination: '/srv/b', type: 'virtiofs', exclude: []},
    ]} as unknown as MachineConfig;
    assert.deepEqual(sharedFolders(machine, '/p/.box/machines/web'), [
      {type: '9p', source: '/src/a', destination: '/srv/a', tag: 'box1'},
      {type: 'virtiofs', source: '/src/b', destination: '/srv/b', tag: 'box2', socket: '/p/.box/machines/web/virtiofs-2.sock'},
    ]);
  });

  test('a machine folder too deep for a unix socket gets its virtiofsd socket in the temp folder, still found by its command line', () => {
    const deep = `/p/${'d'.repeat(120)}/.box/machines/web`;
    const socket = virtiofsdSocket(deep, 3);
    assert.ok(Buffer.byteLength(socket) <= 107, socket);
    assert.match(path.basename(socket), /^box-virtiofs-3-[0-9a-f]{16}\.sock$/);
    const args = ['/usr/lib/qemu/virtiofsd', ...virtiofsdArgs({source: '/src', socket})];
    assert.ok(virtiofsdOfMachine(args, deep));
    assert.ok(!virtiofsdOfMachine(args, `${deep}2`), 'another machine folder');
    assert.ok(!virtiofsdOfMachine(['/usr/bin/sleep', `--socket-path=${socket}`], deep), 'not a virtiofsd');
    assert.ok(virtiofsdOfMachine(['virtiofsd', `--socket-path=${virtiofsdSocket('/p/.box/machines/web', 0)}`], '/p/.box/machines/web'));
    assert.ok(!virtiofsdOfMachine(['virtiofsd', '--socket-path=/p/.box/machines/web/virtiofs-0.sock'], '/p/.box/machines/db'));
  });

  test('virtiofsd gets the folder as a fuse option, commas and backslashes escaped', () => {
    assert.deepEqual(virtiofsdArgs({source: '/home/a,b\\c', socket: '/m/virtiofs-0.sock'}), ['--socket-path=/m/virtiofs-0.sock', '-o', 'source=/home/a\\,b\\\\c', '-o', 'cache=auto']);
  });

  test('9p mounts with the 9p2000.L dialect over virtio and large messages; virtiofs with no options', () => {
    assert.deepEqual(mountArgs({type: '9p', source: '/s', destination: '/srv/a', tag: 'box1'}), ['9p', 'box1', '/srv/a', NINEP_MOUNT_OPTIONS]);
    assert.match(NINEP_MOUNT_OPTIONS, /trans=virtio/);
    assert.match(NINEP_MOUNT_OPTIONS, /version=9p2000\.L/);
    assert.deepEqual(mountArgs({type: 'virtiofs', source: '/s', destination: '/srv/b', tag: 'box2', socket: '/x.sock'}), ['virtiofs', 'box2', '/srv/b', '']);
  });

  test('the mount script: a kernel without the file system loads its modules, then exits NO_KERNEL_SUPPORT naming the kernel', async () => {
    const dir = await tempDir('box-mount-');
    try {
      const nofs = 'boxnofs';
      const r = await runMount(dir.dir, [nofs, 'box0', path.join(dir.dir, 'dest'), '']);
      assert.equal(r.exitCode, NO_KERNEL_SUPPORT);
      assert.match(r.stderr, new RegExp(`the guest kernel \\S+ has no ${nofs} file system`));
      assert.deepEqual(r.calls, [`modprobe ${nofs}`]);
      const ninep = await runMount(dir.dir, ['9p', 'box0', path.join(dir.dir, 'dest'), NINEP_MOUNT_OPTIONS]);
      const hostHas9p = /\s9p$/m.test(await readFile('/proc/filesystems', 'utf8'));
      if (hostHas9p) {
        assert.deepEqual(ninep.calls, [`mount -t 9p -o ${NINEP_MOUNT_OPTIONS} box0 ${path.join(dir.dir, 'dest')}`]);
      } else {
        // Both modules are tried (the transport and the file system), then the script says which are missing.
        assert.equal(ninep.exitCode, NO_KERNEL_SUPPORT);
        assert.deepEqual(ninep.calls, ['modprobe 9pnet_virtio', 'modprobe 9p']);
        assert.match(ninep.stderr, /no 9p file system \(no 9p, 9pnet, 9pnet_virtio module in \/lib\/modules\/\S+, none built in\)/);
      }
    } finally {
      await dir.cleanup();
    }
  });

  test('the mount script: creates the folder and mounts the tag with the options given; no module loaded when the kernel has the file system', async () => {
    const dir = await tempDir('box-mount-');
    try {
      const dest = path.join(dir.dir, 'srv', 'app');
      // tmpfs is in every Linux kernel's /proc/filesystems.
      const r = await runMount(dir.dir, ['tmpfs', 'box0', dest, 'size=1m']);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.deepEqual(r.calls, [`mount -t tmpfs -o size=1m box0 ${dest}`]);
      const bare = await runMount(dir.dir, ['tmpfs', 'box1', dest, '']);
      assert.deepEqual(bare.calls, [`mount -t tmpfs box1 ${dest}`]);
      assert.equal((await execa('test', ['-d', dest], {reject: false})).exitCode, 0, 'the folder was made');
    } finally {
      await dir.cleanup();
    }
  });

  test('the mount script: the same tag already mounted there is left alone; another mount there is an error', async () => {
    const dir = await tempDir('box-mount-');
    try {
      // /proc is mounted from "proc", of type proc, on every Linux host.
      const same = await runMount(dir.dir, ['proc', 'proc', '/proc', '']);
      assert.equal(same.exitCode, 0, same.stderr);
      assert.deepEqual(same.calls, []);
      const other = await runMount(dir.dir, ['tmpfs', 'box0', '/proc', '']);
      assert.equal(other.exitCode, 3);
      assert.match(other.stderr, /\/proc is already a mount point \(proc proc\)/);
      assert.deepEqual(other.calls, []);
    } finally {
      await dir.cleanup();
    }
  });
});
