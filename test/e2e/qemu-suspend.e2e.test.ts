/**
 * Suspend and resume of a REAL qemu guest, on ONE boot: a process started before `box suspend`
 * still runs after `box resume` (and after `halt --suspend` + `box up`), uptime goes on, no
 * QEMU runs while suspended, `halt` keeps a saved state and `halt --force` discards it.
 */
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import YAML from 'yaml';
import {box, boxJson, tempDir} from '../helpers/cli.js';
import {takeE2eSlot} from '../helpers/e2e-slot.js';
import {addTestBox, ensureTestBox} from '../helpers/test-box.js';
import {qemuProcesses} from '../helpers/qemu-processes.js';
import {removeE2eProject} from '../helpers/e2e-project.js';

describe('qemu suspend and resume with a real guest', {timeout: 10 * 60_000}, () => {
  let release: () => Promise<void>;
  let home: Awaited<ReturnType<typeof tempDir>>;
  let project: Awaited<ReturnType<typeof tempDir>>;
  let sleeper = '';
  let uptime = 0;
  const run = (args: string[], timeoutMs = 240_000) => box(args, {cwd: project.dir, boxHome: home.dir, timeoutMs});
  const runJson = (args: string[], timeoutMs = 240_000) => boxJson(args, {cwd: project.dir, boxHome: home.dir, timeoutMs});
  const stateFile = () => path.join(project.dir, '.box', 'machines', 'default', 'suspend.state');

  /** The sleeper's pid if it still runs, the guest's uptime, and its clock minus the host's (s). */
  async function guestFacts(): Promise<{alive: boolean; uptime: number; skew: number}> {
    const r = await run(['ssh', '-c', `kill -0 ${sleeper} && echo alive; cut -d' ' -f1 /proc/uptime; date +%s`]);
    assert.equal(r.exitCode, 0, String(r.stderr));
    const lines = String(r.stdout).trim().split('\n');
    const alive = lines[0] === 'alive';
    const rest = alive ? lines.slice(1) : lines;
    return {alive, uptime: Number(rest[0]), skew: Number(rest[1]) - Date.now() / 1000};
  }

  async function assertSuspended(): Promise<void> {
    const {json} = await runJson(['status']);
    assert.equal(json.machines[0].status, 'suspended');
    assert.deepEqual(qemuProcesses(project.dir), [], 'no QEMU runs while suspended');
    assert.ok(existsSync(stateFile()));
  }

  before(async () => {
    release = await takeE2eSlot();
    await ensureTestBox();
    home = await tempDir('box-e2e-home-');
    project = await tempDir('box-e2e-suspend-');
    await addTestBox(home.dir);
    const init = await run(['init', '--basebox', 'debian-12-minimal', '--target', 'qemu']);
    assert.equal(init.exitCode, 0, String(init.stderr));
    const file = path.join(project.dir, 'Boxfile');
    const doc = YAML.parseDocument(await readFile(file, 'utf8'));
    doc.set('targets', {qemu: {cpus: 2, memory: 384}});
    await writeFile(file, doc.toString());
  });

  after(async () => {
    await removeE2eProject(project, home);
    await release?.();
  });

  test('up boots the guest, where a background process starts', async () => {
    const {result} = await runJson(['up']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    const r = await run(['ssh', '-c', 'nohup sleep 10000 >/dev/null 2>&1 & echo $!']);
    assert.equal(r.exitCode, 0, String(r.stderr));
    sleeper = String(r.stdout).trim();
    assert.match(sleeper, /^\d+$/);
    uptime = (await guestFacts()).uptime;
  });

  test('suspend saves the guest and stops QEMU; status says suspended; ssh refuses', async () => {
    const {result, json} = await runJson(['suspend']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.machines[0].suspended, true);
    assert.equal(json.machines[0].status, 'suspended');
    assert.equal(json.machines[0].method, 'qemu-migrate');
    assert.ok(json.machines[0].stateBytes > 1024 ** 2);
    await assertSuspended();
    const again = await runJson(['suspend']);
    assert.equal(again.result.exitCode, 0);
    assert.equal(again.json.machines[0].suspended, false, 'a second suspend changes nothing');
    const ssh = await run(['ssh', '-c', 'true']);
    assert.equal(ssh.exitCode, 1);
    assert.match(String(ssh.stderr), /suspended/);
  });

  test('resume continues the guest without a boot: same process, uptime goes on, clock set', async () => {
    const {result, json} = await runJson(['resume']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.machines[0].resumed, true);
    assert.equal(json.machines[0].status, 'running');
    assert.ok(!existsSync(stateFile()), 'the saved state goes once the guest runs');
    const facts = await guestFacts();
    assert.ok(facts.alive, `sleep ${sleeper} survived the suspend`);
    assert.ok(facts.uptime >= uptime, `uptime ${facts.uptime} s after ${uptime} s: no reboot`);
    assert.ok(Math.abs(facts.skew) < 30, `guest clock within 30 s of the host's (${facts.skew.toFixed(1)} s)`);
    uptime = facts.uptime;
  });

  test('halt --suspend, then halt keeps the state, then up resumes', async () => {
    const {result, json} = await runJson(['halt', '--suspend']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.machines[0].status, 'suspended');
    await assertSuspended();
    const halt = await runJson(['halt']);
    assert.equal(halt.result.exitCode, 0, String(halt.result.stderr));
    assert.equal(halt.json.machines[0].status, 'suspended');
    assert.match(String(halt.result.stderr), /saved state is kept/);
    const up = await runJson(['up']);
    assert.equal(up.result.exitCode, 0, String(up.result.stderr));
    assert.equal(up.json.machines[0].resumed, true);
    const facts = await guestFacts();
    assert.ok(facts.alive, `sleep ${sleeper} survived the second suspend`);
    assert.ok(facts.uptime >= uptime);
  });

  test('halt --force discards a saved state: stopped, file gone; resume then refuses', async () => {
    assert.equal((await run(['suspend'])).exitCode, 0);
    const {result, json} = await runJson(['halt', '--force']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.machines[0].status, 'stopped');
    assert.ok(!existsSync(stateFile()));
    const resume = await runJson(['resume']);
    assert.equal(resume.result.exitCode, 1);
    assert.equal(resume.json.error.code, 'ERR_NOT_SUSPENDED');
  });
});
