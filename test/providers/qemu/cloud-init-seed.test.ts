import assert from 'node:assert/strict';
import {mkdir, mkdtemp, readFile, readdir, rm, writeFile} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {parse} from 'yaml';
import type {MachineConfig} from '../../../src/boxfile/project.js';
import {run} from '../../../src/core/exec.js';
import {buildQemuArgs} from '../../../src/providers/qemu/args.js';
import {newInstanceId, refreshCloudInitSeed, writeCloudInitSeed, type CloudInitSeedRecord} from '../../../src/providers/shared/cloud-init-seed.js';
import {awsMachine} from '../aws/machine.js';

/** A qemu machine with the given cloud-init data (the rest as loadProject would give it). */
function machine(cloudInit: MachineConfig['cloudInit'], hostname?: string): MachineConfig {
  return {...awsMachine('web', {}), target: 'qemu', ...(hostname ? {hostname} : {}), ...(cloudInit ? {cloudInit} : {})};
}

/** The ISO's volume id and files, read back with xorriso (as a guest's blkid and mount would see them). */
async function readIso(iso: string, into: string): Promise<{volumeId: string; files: Record<string, Buffer>}> {
  // ISO9660's primary volume descriptor (sector 16): its volume identifier, 32 bytes at offset 40.
  const image = await readFile(iso);
  const pvd = image.subarray(16 * 2048, 17 * 2048);
  assert.equal(pvd.subarray(1, 6).toString(), 'CD001', 'an ISO9660 image');
  const volumeId = pvd.subarray(40, 72).toString('ascii').trimEnd();
  await run('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/', into]);
  const files: Record<string, Buffer> = {};
  for (const name of await readdir(into)) files[name] = await readFile(path.join(into, name));
  return {volumeId, files};
}

describe('qemu: the cloud-init NoCloud seed', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(path.join(os.tmpdir(), 'box-seed-')); });
  after(async () => { await rm(dir, {recursive: true, force: true}); });

  test('a cidata ISO with the user-data file byte for byte, meta-data (instance-id, local-hostname, extras) and network-config', async () => {
    const userData = Buffer.from('#cloud-config\nwrite_files:\n  - {path: /etc/hello, content: "héllo\\t"}\n');
    const host = path.join(dir, 'user-data.yaml');
    await writeFile(host, userData);
    const network = 'version: 2\nethernets: {eth0: {dhcp4: true}}\n';
    const machineDir = path.join(dir, 'machine');
    const seed = await writeCloudInitSeed(machine({userData: {path: host}, metaData: {region: 'lab'}, networkConfig: {inline: network}, userDataSetAt: [['user_data']]}, 'web-1'), dir, 'box-web-1234');
    assert.equal(seed, path.join(dir, 'cidata.iso'));
    const {volumeId, files} = await readIso(seed!, machineDir);
    assert.equal(volumeId, 'cidata');
    assert.deepEqual(Object.keys(files).sort(), ['meta-data', 'network-config', 'user-data']);
    assert.ok(files['user-data'].equals(userData), 'user-data is the host file, byte for byte');
    assert.equal(files['network-config'].toString(), network);
    assert.deepEqual(parse(files['meta-data'].toString()), {'instance-id': 'box-web-1234', 'local-hostname': 'web-1', region: 'lab'});
  });

  test('meta_data may set instance-id and local-hostname; without user_data the seed has an empty #cloud-config; no network-config unless given', async () => {
    const out = path.join(dir, 'second');
    const seedDir = path.join(dir, 'm2');
    await rm(seedDir, {recursive: true, force: true});
    await mkdir(seedDir, {recursive: true});
    const seed = await writeCloudInitSeed(machine({metaData: {'local-hostname': 'custom'}, userDataSetAt: []}), seedDir, 'box-web-x');
    const {files} = await readIso(seed!, out);
    assert.deepEqual(Object.keys(files).sort(), ['meta-data', 'user-data']);
    assert.match(files['user-data'].toString(), /^#cloud-config\n/);
    assert.deepEqual(parse(files['meta-data'].toString()), {'instance-id': 'box-web-x', 'local-hostname': 'custom'});
  });

  test('no cloud-init data: no seed', async () => {
    assert.equal(await writeCloudInitSeed(machine(undefined), dir, 'x'), undefined);
  });

  test('before each boot: the seed is made again under the recorded instance-id; once the Boxfile drops its data, the seed is released, removed and unrecorded', async () => {
    const seedDir = path.join(dir, 'refresh');
    await mkdir(seedDir, {recursive: true});
    const record: CloudInitSeedRecord = {};
    const save = async (change: (r: CloudInitSeedRecord) => void) => { change(record); };
    const released: string[] = [];
    const release = async (seed: string) => { released.push(seed); };
    const withData = machine({userData: {inline: '#cloud-config\n{}\n'}, userDataSetAt: [['user_data']]});
    const first = await refreshCloudInitSeed(withData, seedDir, record, save, release);
    assert.equal(first, path.join(seedDir, 'cidata.iso'));
    assert.match(record.cloudInitInstanceId ?? '', /^box-web-/);
    assert.equal(record.cloudInitSeed, first);
    const id = record.cloudInitInstanceId;
    await refreshCloudInitSeed(withData, seedDir, record, save, release);
    assert.equal(record.cloudInitInstanceId, id, 'one instance-id per machine, kept across boots');
    assert.equal(await refreshCloudInitSeed(machine(undefined), seedDir, record, save, release), undefined);
    assert.deepEqual(released, [first]);
    assert.deepEqual(await readdir(seedDir), [], 'the stale seed is removed');
    assert.deepEqual(record, {cloudInitInstanceId: id}, 'the seed is no longer recorded; the instance-id stays until destroy');
    assert.equal(await refreshCloudInitSeed(machine(undefined), seedDir, record, save, release), undefined);
    assert.deepEqual(released, [first], 'nothing to release when no seed was recorded');
  });

  test('instance ids differ per machine and per creation', () => {
    const a = newInstanceId('web');
    assert.match(a, /^box-web-[0-9a-f-]{36}$/);
    assert.notEqual(newInstanceId('web'), a);
  });

  test('the QEMU command line attaches the seed as a read-only CD on its own virtio-scsi controller (and nothing without one)', () => {
    const spec = {
      name: 'box-p-web', machineType: 'q35', accel: 'tcg' as const, cpus: 1, memoryMiB: 512, disk: '/p/disk.qcow2',
      qmpSocket: '/p/qmp.sock', pidFile: '/p/qemu.pid', serialLog: '/p/serial.log', sshPort: 40022, forwardedPorts: [], extraArgs: [],
    };
    const args = buildQemuArgs({...spec, cloudInitSeed: '/p/a,b/cidata.iso'});
    const drive = args.filter((a, i) => args[i - 1] === '-drive').find((d) => d.includes('cidata.iso'));
    assert.equal(drive, 'file=/p/a,,b/cidata.iso,if=none,id=box-seed,media=cdrom,readonly=on,format=raw');
    // Not on the machine's AHCI/IDE bus: Debian's cloud kernel has no AHCI driver.
    const devices = args.filter((a, i) => args[i - 1] === '-device');
    assert.ok(devices.includes('virtio-scsi-pci,id=box-seed-scsi'));
    assert.ok(devices.includes('scsi-cd,bus=box-seed-scsi.0,drive=box-seed'));
    assert.ok(!buildQemuArgs(spec).some((a) => a.includes('media=cdrom') || a.includes('box-seed')));
  });
});
