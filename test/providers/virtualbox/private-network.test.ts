/**
 * The virtualbox private network, in process against the stateful fake VBoxManage (its "banner"
 * guest answers the SSH wait) and the fake communicator (what would run in the guest over SSH is
 * logged, not run): NIC 2 on the project's internal network with each machine's MAC, the
 * addresses recorded in state, and the guest scripts shared with the qemu target.
 */
import assert from 'node:assert/strict';
import {mkdir, readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {execa} from 'execa';
import YAML from 'yaml';
import {loadProject} from '../../../src/boxfile/load.js';
import {privateMac} from '../../../src/boxfile/private-network.js';
import {shellQuote} from '../../../src/communicators/ssh/remote-command.js';
import {machineDir} from '../../../src/core/paths.js';
import {readMachineState} from '../../../src/core/state.js';
import {silentUi} from '../../../src/core/ui.js';
import type {MachineContext} from '../../../src/providers/provider.js';
import {configureInterfaceScript, hostsBlockScript} from '../../../src/providers/shared/private-network-scripts.js';
import {internalNetworkName} from '../../../src/providers/virtualbox/private-network.js';
import {VBoxManage} from '../../../src/providers/virtualbox/vboxmanage.js';
import {VirtualboxProvider} from '../../../src/providers/virtualbox/virtualbox-provider.js';
import {box, tempDir} from '../../helpers/cli.js';
import {FakeCommunicator} from '../../helpers/fake-ssh.js';
import {fakeCalls, fakeVBoxDir, fakeVms, makeFakeVirtualboxBox} from './fake-vbox.js';
// Loading a Boxfile needs the registered targets (the CLI registers them the same way).
import '../../../src/providers/registry.js';

type Dir = Awaited<ReturnType<typeof tempDir>>;
interface SshLine {op: string; command?: string; sudo?: boolean; port: number}

describe('virtualbox private network, against the fake VBoxManage', {timeout: 3 * 60_000}, () => {
  let home: Dir;
  let work: Dir;
  const saved = {BOX_HOME: process.env.BOX_HOME, FAKE_VBOX_HOME: process.env.FAKE_VBOX_HOME, FAKE_VBOX_BOOT: process.env.FAKE_VBOX_BOOT};

  before(async () => {
    home = await tempDir('box-vboxnet-home-');
    work = await tempDir('box-vboxnet-work-');
    const boxFile = await makeFakeVirtualboxBox(path.join(work.dir, 'debian-vbox.box'));
    const added = await box(['box', 'add', 'debian-12-minimal', boxFile, '--box-version', '12.0.0'], {boxHome: home.dir});
    assert.equal(added.exitCode, 0, String(added.stderr));
    process.env.BOX_HOME = home.dir;
    // One fake VirtualBox for both projects: one host, as internal networks are per host.
    process.env.FAKE_VBOX_HOME = path.join(work.dir, 'fake-vbox');
    process.env.FAKE_VBOX_BOOT = 'banner';
  });

  after(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await work?.cleanup();
    await home?.cleanup();
  });

  /** A project folder with a Boxfile, its provider (SSH through the fake communicator, logged to <root>/fake-ssh.log) and a context per machine. */
  async function project(name: string, doc: Record<string, unknown>) {
    const root = path.join(work.dir, name);
    await mkdir(root, {recursive: true});
    await writeFile(path.join(root, 'Boxfile'), YAML.stringify({basebox: 'debian-12-minimal', target: 'virtualbox', ssh: {insert_key: false, timeout: 60}, ...doc}));
    const loaded = await loadProject({cwd: root});
    const provider = new VirtualboxProvider(new VBoxManage(path.join(fakeVBoxDir, 'VBoxManage')), async (info) => new FakeCommunicator(root, info));
    const ctx = (machine: string): MachineContext => ({project: loaded, machine: loaded.machines.find((m) => m.name === machine)!, dir: machineDir(root, machine), ui: silentUi(), signal: new AbortController().signal});
    const ssh = async (): Promise<SshLine[]> => (await readFile(path.join(root, 'fake-ssh.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    return {root, provider, ctx, ssh};
  }

  /** The `modifyvm` call that set NIC 2 of a VM (by uuid), the last one. */
  function nic2Call(uuid: string): string[] | undefined {
    return fakeCalls(process.env.FAKE_VBOX_HOME!).map((c) => c.argv).filter((a) => a[0] === 'modifyvm' && a[1] === uuid && a.includes('--nic2')).at(-1);
  }

  test('NIC 2 on one internal network per project, each machine its MAC and address; the guest gets the shared scripts', async () => {
    const shop = await project('shop', {
      networks: [{type: 'private'}],
      machines: {web: {}, db: {networks: [{type: 'private', ip: '10.77.0.20'}]}},
    });
    const blog = await project('blog', {networks: [{type: 'private'}]});

    for (const m of ['db', 'web']) assert.deepEqual(await shop.provider.up(shop.ctx(m)).then((r) => r.created), true);
    assert.equal((await blog.provider.up(blog.ctx('default'))).created, true);

    const net = internalNetworkName(shop.root);
    assert.match(net, /^box-[0-9a-f]{16}$/);
    assert.notEqual(internalNetworkName(blog.root), net, 'another project is on another internal network');
    assert.equal(internalNetworkName(shop.root), net, 'stable for a project folder');

    const vms = fakeVms(process.env.FAKE_VBOX_HOME!);
    const recorded: Record<string, {ip: string; mac: string}> = {};
    for (const [p, m] of [[shop, 'web'], [shop, 'db'], [blog, 'default']] as const) {
      const state = (await readMachineState(p.root, m))!;
      const mac = privateMac(p.root, m);
      assert.equal(state.privateNetwork!.mac, mac);
      recorded[`${path.basename(p.root)}/${m}`] = state.privateNetwork!;
      const uuid = (state.provider as {uuid: string}).uuid;
      assert.deepEqual(nic2Call(uuid), ['modifyvm', uuid, '--nic2', 'intnet', '--intnet2', internalNetworkName(p.root), '--macaddress2', mac.replaceAll(':', '').toUpperCase(), '--nictype2', '82540EM', '--cableconnected2', 'on']);
      const vm = vms.find((v) => v.uuid === uuid) as unknown as Record<string, unknown>;
      assert.deepEqual([vm.nic2, vm.intnet2, vm.macaddress2, vm.nictype2, vm.state], ['intnet', internalNetworkName(p.root), mac.replaceAll(':', '').toUpperCase(), '82540EM', 'running']);
    }
    assert.equal(recorded['shop/db']!.ip, '10.77.0.20', 'the Boxfile\'s address');
    assert.match(recorded['shop/web']!.ip, /^10\.77\.0\.\d+$/, 'an assigned address in the same /24');
    assert.notEqual(recorded['shop/web']!.mac, recorded['shop/db']!.mac);

    // What ran in web's guest, as root over one connection: its interface (by MAC), then the
    // hosts block naming itself and db (running, up before it).
    const webPort = (await shop.provider.sshInfo(shop.ctx('web'))).port;
    const webRuns = (await shop.ssh()).filter((l) => l.op === 'exec' && l.port === webPort);
    assert.equal(webRuns.length, 2, JSON.stringify(webRuns));
    assert.ok(webRuns.every((l) => l.sudo));
    assert.ok(webRuns[0]!.command!.includes(shellQuote(configureInterfaceScript)));
    assert.ok(webRuns[0]!.command!.includes(`${shellQuote(recorded['shop/web']!.mac)} ${shellQuote(`${recorded['shop/web']!.ip}/24`)}`), webRuns[0]!.command);
    assert.ok(webRuns[1]!.command!.includes(shellQuote(hostsBlockScript)));
    const hosts = `${recorded['shop/web']!.ip} web web.shop\n10.77.0.20 db db.shop`;
    assert.ok(webRuns[1]!.command!.includes(`${shellQuote(hosts)} /etc/hosts`), webRuns[1]!.command);

    // halt and up again: same address, NIC 2 set again on the same network, the guest configured again.
    await shop.provider.halt(shop.ctx('web'), {force: true, timeoutSeconds: 5});
    const callsBefore = fakeCalls(process.env.FAKE_VBOX_HOME!).length;
    assert.equal((await shop.provider.up(shop.ctx('web'))).created, false);
    const webUuid = ((await readMachineState(shop.root, 'web'))!.provider as {uuid: string}).uuid;
    assert.ok(fakeCalls(process.env.FAKE_VBOX_HOME!).slice(callsBefore).some((c) => c.argv[1] === webUuid && c.argv.includes('--intnet2') && c.argv.includes(net)));
    assert.deepEqual((await readMachineState(shop.root, 'web'))!.privateNetwork, recorded['shop/web']);
    const newPort = (await shop.provider.sshInfo(shop.ctx('web'))).port;
    assert.equal((await shop.ssh()).filter((l) => l.op === 'exec' && l.port === newPort).length, newPort === webPort ? 4 : 2);

    for (const [p, m] of [[shop, 'web'], [shop, 'db'], [blog, 'default']] as const) await p.provider.destroy(p.ctx(m));
    assert.deepEqual(fakeVms(process.env.FAKE_VBOX_HOME!).filter((v) => !v.name.startsWith('box-master-')), []);
  });

  test('a machine whose Boxfile drops its network gets NIC 2 removed on the next up', async () => {
    const p = await project('dropped', {networks: [{type: 'private'}]});
    await p.provider.up(p.ctx('default'));
    const uuid = ((await readMachineState(p.root, 'default'))!.provider as {uuid: string}).uuid;
    await p.provider.halt(p.ctx('default'), {force: true, timeoutSeconds: 5});
    const without = await project('dropped', {});
    await without.provider.up(without.ctx('default'));
    assert.deepEqual(nic2Call(uuid), ['modifyvm', uuid, '--nic2', 'none']);
    assert.equal((fakeVms(process.env.FAKE_VBOX_HOME!).find((v) => v.uuid === uuid) as unknown as Record<string, unknown>).nic2, 'none');
    const runs = (await without.ssh()).filter((l) => l.op === 'exec');
    assert.equal(runs.length, 2, 'only the first up configured the guest');
    await without.provider.destroy(without.ctx('default'));
  });

  test('the fake refuses NIC 2 values VirtualBox refuses, as VBoxManage does', async () => {
    const p = await project('refused', {networks: [{type: 'private'}]});
    await p.provider.up(p.ctx('default'));
    const uuid = ((await readMachineState(p.root, 'default'))!.provider as {uuid: string}).uuid;
    await p.provider.halt(p.ctx('default'), {force: true, timeoutSeconds: 5});
    const vbox = (...args: string[]) => execa(path.join(fakeVBoxDir, 'VBoxManage'), args, {reject: false});
    const cases: Array<[string[], number, RegExp]> = [
      [['--nic2', 'internal'], 2, /Invalid type 'internal' specfied for NIC 2/],
      [['--nictype2', 'e1000'], 2, /Invalid NIC type 'e1000'/],
      [['--macaddress2', '52:54:00:12:34:56'], 1, /Invalid MAC address format/],
      [['--macaddress2', '015400123456'], 1, /Multicast MAC address/],
      [['--intnet2', ''], 1, /Empty or null internal network name/],
      [['--cableconnected2', 'yes'], 2, /cableconnected2/],
    ];
    for (const [args, code, message] of cases) {
      const r = await vbox('modifyvm', uuid, ...args);
      assert.equal(r.exitCode, code, args.join(' '));
      assert.match(String(r.stderr), message);
    }
    const long = await vbox('modifyvm', uuid, '--intnet2', 'n'.repeat(128));
    assert.equal(long.exitCode, 0, 'VirtualBox takes the name and fails when the VM starts');
    const start = await vbox('startvm', uuid, '--type', 'headless');
    assert.equal(start.exitCode, 1);
    assert.match(String(start.stderr), /internal network/);
    await p.provider.destroy(p.ctx('default'));
  });
});
