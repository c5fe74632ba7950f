/**
 * The qemu target's private network with three REAL guests (256 MiB each, TCG) of one project,
 * booted at once: web and app (addresses assigned by box) and db (address written in the
 * Boxfile) share a multicast segment on the loopback; each names the others in /etc/hosts; a
 * TCP connection from web to a port served on db goes through; web's configure hook gets the
 * cluster map when machines come and go; web keeps its address across halt/up and its
 * interface configuration across a reboot box has no part in; destroy and a Ctrl-C during a
 * parallel first up leave nothing. The guests are shared by the cases.
 */
import assert from 'node:assert/strict';
import {existsSync, readFileSync} from 'node:fs';
import {readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {execa} from 'execa';
import {box, boxBin, boxJson, tempDir} from '../helpers/cli.js';
import {takeE2eSlot} from '../helpers/e2e-slot.js';
import {addTestBox, ensureTestBox} from '../helpers/test-box.js';
import {removeE2eProject} from '../helpers/e2e-project.js';
import {qemuProcesses} from '../helpers/qemu-processes.js';
import {multicastSegment} from '../../src/providers/qemu/private-network.js';

const DB_IP = '10.77.12.20';

const boxfile = `name: pnet
basebox: debian-12-minimal
targets:
  qemu: {cpus: 2, memory: 256}
networks: [{type: private}]
machines:
  web:
    hooks:
      configure:
        - run: 'printf "%s\\n" "$BOX_CLUSTER_JSON" >> configure.log'
  app:
  db:
    networks: [{type: private, ip: ${DB_IP}}]
`;

describe('a private network between three real qemu guests booted at once', {timeout: 20 * 60_000}, () => {
  let release: () => Promise<void>;
  let home: Awaited<ReturnType<typeof tempDir>>;
  let project: Awaited<ReturnType<typeof tempDir>>;
  const run = (args: string[], timeoutMs = 300_000) => box(args, {cwd: project.dir, boxHome: home.dir, timeoutMs});
  const runJson = (args: string[], timeoutMs = 300_000) => boxJson(args, {cwd: project.dir, boxHome: home.dir, timeoutMs});
  const onGuest = async (machine: string, command: string): Promise<string> => {
    const r = await run(['ssh', machine, '-c', command], 60_000);
    assert.equal(r.exitCode, 0, `${machine}: ${command}\n${r.stdout}\n${r.stderr}`);
    return String(r.stdout);
  };
  const recordedIp = async (machine: string): Promise<string> =>
    (JSON.parse(await readFile(path.join(project.dir, '.box', 'machines', machine, 'state.json'), 'utf8')) as {privateNetwork: {ip: string}}).privateNetwork.ip;

  before(async () => {
    release = await takeE2eSlot();
    await ensureTestBox();
    home = await tempDir('box-e2e-home-');
    project = await tempDir('box-e2e-pnet-');
    await addTestBox(home.dir);
    await writeFile(path.join(project.dir, 'Boxfile'), boxfile);
  });

  after(async () => {
    await removeE2eProject(project, home);
    await release?.();
  });

  test('up boots the three machines with their private addresses: db the Boxfile\'s, web and app from db\'s /24', async () => {
    const {result, json} = await runJson(['up']);
    assert.equal(result.exitCode, 0, `${result.stderr}\n${JSON.stringify(json?.error ?? json?.machines)}`);
    assert.deepEqual(json.machines.map((m: {name: string; status: string}) => [m.name, m.status]), [['web', 'running'], ['app', 'running'], ['db', 'running']]);
    assert.equal(await recordedIp('db'), DB_IP);
    assert.equal(await recordedIp('web'), '10.77.12.10');
    const addr = await onGuest('web', 'ip -4 -o addr show');
    assert.match(addr, /inet 10\.77\.12\.10\/24 /);
    // The NAT interface is still there and still the default route (the private NIC adds none).
    assert.match(await onGuest('web', 'ip route show default'), /via 10\.0\.2\.2/);
  });

  test('the machines came up at once, status shows their private addresses, and web\'s configure hook saw all three in the cluster map', async () => {
    const {json} = await runJson(['status']);
    assert.deepEqual(json.machines.map((m: {name: string; privateAddress?: string}) => [m.name, m.privateAddress]), [['web', '10.77.12.10'], ['app', '10.77.12.11'], ['db', DB_IP]]);
    const maps = (await readFile(path.join(project.dir, 'configure.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(maps.length, 1, 'one configure event for the up of both');
    assert.deepEqual(maps[0].changed, {up: ['web', 'app', 'db'], down: []});
    assert.deepEqual(maps[0].machines.map((m: {name: string; status: string; address: string}) => [m.name, m.status, m.address]), [['web', 'running', '10.77.12.10'], ['app', 'running', '10.77.12.11'], ['db', 'running', DB_IP]]);
  });

  test('each machine names the others (and itself) by name and name.project in /etc/hosts', async () => {
    assert.match(await onGuest('web', 'getent hosts db'), new RegExp(`^${DB_IP.replaceAll('.', '\\.')}\\s+db db\\.pnet$`, 'm'));
    assert.match(await onGuest('web', 'getent hosts db.pnet'), /^10\.77\.12\.20\s/m);
    assert.match(await onGuest('db', 'getent hosts web'), /^10\.77\.12\.10\s+web web\.pnet$/m);
    // One block, written by box, however often it was rewritten (web's was rewritten when db came up).
    const hosts = await onGuest('web', 'cat /etc/hosts');
    assert.equal(hosts.split('\n').filter((l) => l.startsWith('# BEGIN box private network')).length, 1, hosts);
  });

  test('a TCP connection from web to a port served on db goes through the private network', async () => {
    // perl-base is in every Debian; the test box has no nc or python.
    await onGuest('db', `setsid perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalAddr => "${DB_IP}", LocalPort => 8080, Listen => 5, ReuseAddr => 1) or die "listen: $!"; while ($c = $s->accept) { print $c "hello from db\\n"; close $c }' </dev/null >/dev/null 2>&1 &`);
    const reply = await onGuest('web', 'for i in 1 2 3 4 5 6 7 8 9 10; do timeout 5 bash -c "exec 3<>/dev/tcp/db/8080 && head -n1 <&3" && exit 0; sleep 1; done; exit 1');
    assert.equal(reply.trim(), 'hello from db');
  });

  test('after halt and up, web has the same address, and its interface survives a reboot box does not touch', async () => {
    const halted = await run(['halt', 'web', '--timeout', '90']);
    assert.equal(halted.exitCode, 0, String(halted.stderr));
    const up = await run(['up', 'web']);
    assert.equal(up.exitCode, 0, String(up.stderr));
    assert.equal(await recordedIp('web'), '10.77.12.10');
    assert.match(await onGuest('web', 'ip -4 -o addr show'), /inet 10\.77\.12\.10\/24 /);
    // A reboot from inside the guest: only the guest's own configuration brings the address back.
    const bootId = (await onGuest('web', 'cat /proc/sys/kernel/random/boot_id')).trim();
    await run(['ssh', 'web', '-c', 'sudo systemctl reboot'], 30_000);
    const deadline = Date.now() + 240_000;
    let addr = '';
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 3000));
      const r = await run(['ssh', 'web', '-c', 'cat /proc/sys/kernel/random/boot_id; ip -4 -o addr show'], 30_000);
      if (r.exitCode !== 0 || String(r.stdout).startsWith(bootId)) continue;
      addr = String(r.stdout);
      if (/inet 10\.77\.12\.10\//.test(addr)) break;
    }
    assert.match(addr, /inet 10\.77\.12\.10\/24 /);
    assert.match(await onGuest('web', 'getent hosts db'), /^10\.77\.12\.20\s/m);
  });

  test('halting db fires configure on web with db gone, and web no longer names db', async () => {
    const halted = await run(['halt', 'db', '--timeout', '90']);
    assert.equal(halted.exitCode, 0, String(halted.stderr));
    const maps = (await readFile(path.join(project.dir, 'configure.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    const last = maps.at(-1);
    assert.deepEqual(last.changed, {up: [], down: ['db']});
    assert.deepEqual(last.machines.map((m: {name: string; status: string}) => [m.name, m.status]), [['web', 'running'], ['app', 'running'], ['db', 'stopped']]);
    const r = await run(['ssh', 'web', '-c', 'getent hosts db'], 60_000);
    assert.equal(r.exitCode, 2, `db is no longer named: ${r.stdout}`);
  });

  test('destroy leaves no QEMU, no multicast socket and no state', async () => {
    const destroyed = await run(['destroy', '--force']);
    assert.equal(destroyed.exitCode, 0, String(destroyed.stderr));
    assert.deepEqual(qemuProcesses(project.dir), []);
    assert.equal(existsSync(path.join(project.dir, '.box')), false);
    // Nothing of this run listens on the project's multicast port any more.
    const {port} = multicastSegment(project.dir);
    assert.doesNotMatch(readFileSync('/proc/net/udp', 'utf8'), new RegExp(`:${port.toString(16).toUpperCase().padStart(4, '0')} `));
  });

  test('Ctrl-C while two new machines boot at once: exit 130, and nothing of either is left', async () => {
    const child = execa(process.execPath, [boxBin, 'up', 'web', 'db'], {cwd: project.dir, env: {BOX_HOME: home.dir, NO_COLOR: '1'}, reject: false});
    const pidFile = (m: string) => path.join(project.dir, '.box', 'machines', m, 'qemu.pid');
    const deadline = Date.now() + 120_000;
    while (!(existsSync(pidFile('web')) && existsSync(pidFile('db'))) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(existsSync(pidFile('web')) && existsSync(pidFile('db')), 'both QEMUs started');
    child.kill('SIGINT');
    const result = await child;
    assert.equal(result.exitCode, 130, String(result.stderr));
    assert.match(String(result.stderr), /web +\| .*Interrupted: destroying the new machine web/);
    assert.match(String(result.stderr), /db +\| .*Interrupted: destroying the new machine db/);
    assert.deepEqual(qemuProcesses(project.dir), []);
    assert.equal(existsSync(path.join(project.dir, '.box')), false);
  });
});
