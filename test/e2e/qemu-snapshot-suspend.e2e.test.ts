/**
 * `box suspend`/`resume` and `box snapshot` on the qemu target with a REAL guest under TCG,
 * sharing ONE machine (a boot costs ~30 s of the CI's critical path): the cases run in order and
 * each leaves the guest as the next needs it. Two boots in all: the first up, and the up after
 * the halted restore (resumes and the live restore are not boots).
 *
 * - suspend: a process started before `box suspend` still runs after `box resume` (and after
 *   `halt --suspend` + `box up`), uptime goes on, no QEMU runs while suspended, ssh refuses;
 * - snapshot: a live snapshot (disk and RAM) restored into the running guest, then halted
 *   snapshots of its disk, list and delete;
 * - last, because it ends stopped: `halt --force` discards a saved state.
 */
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {box, boxJson, tempDir} from '../helpers/cli.js';
import {takeE2eSlot} from '../helpers/e2e-slot.js';
import {addTestBox, ensureTestBox} from '../helpers/test-box.js';
import {qemuProcesses} from '../helpers/qemu-processes.js';
import {removeE2eProject} from '../helpers/e2e-project.js';

describe('qemu suspend, resume and snapshots with one real guest', {timeout: 20 * 60_000}, () => {
  let release: () => Promise<void>;
  let home: Awaited<ReturnType<typeof tempDir>>;
  let project: Awaited<ReturnType<typeof tempDir>>;
  let sleeper = '';
  let uptime = 0;
  const run = (args: string[], timeoutMs = 240_000) => box(args, {cwd: project.dir, boxHome: home.dir, timeoutMs});
  const runJson = (args: string[], timeoutMs = 240_000) => boxJson(args, {cwd: project.dir, boxHome: home.dir, timeoutMs});
  const stateFile = () => path.join(project.dir, '.box', 'machines', 'default', 'suspend.state');
  const guest = async (command: string) => {
    const result = await run(['ssh', '-c', command]);
    return {exitCode: result.exitCode, out: String(result.stdout).trim(), err: String(result.stderr)};
  };

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
    home = await tempDir('box-e2e-snap-home-');
    project = await tempDir('box-e2e-snap-suspend-');
    await addTestBox(home.dir);
    await writeFile(path.join(project.dir, 'Boxfile'), 'basebox: debian-12-minimal\ntarget: qemu\ntargets:\n  qemu: {cpus: 2, memory: 384}\n');
  });

  after(async () => {
    await removeE2eProject(project, home);
    await release?.();
  });

  // Leaves: running, with a background sleeper.
  test('up boots the guest, where a background process starts', async () => {
    const {result} = await runJson(['up'], 400_000);
    assert.equal(result.exitCode, 0, String(result.stderr));
    const r = await run(['ssh', '-c', 'nohup sleep 10000 >/dev/null 2>&1 & echo $!']);
    assert.equal(r.exitCode, 0, String(r.stderr));
    sleeper = String(r.stdout).trim();
    assert.match(sleeper, /^\d+$/);
    uptime = (await guestFacts()).uptime;
  });

  // Leaves: suspended.
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

  // Leaves: running (resumed).
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

  // Leaves: running (resumed by up).
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

  // Leaves: running, with snapshot s1 (disk and RAM).
  test('live snapshot: save s1, delete the file, restore s1: the running guest has it back and answers ssh at once', async () => {
    assert.equal((await guest('echo one > /var/tmp/f && (setsid sleep 600 </dev/null >/dev/null 2>&1 &) && echo started')).exitCode, 0);
    const saved = await runJson(['snapshot', 'save', 's1']);
    assert.equal(saved.result.exitCode, 0, String(saved.result.stderr));
    assert.equal(saved.json.machines[0].snapshot.withMemory, true);
    assert.ok(saved.json.machines[0].snapshot.sizeBytes > 1024 * 1024, 'the guest RAM is in the snapshot');
    assert.equal((await guest('rm /var/tmp/f && pkill -x sleep; echo gone')).out, 'gone');
    const restored = await runJson(['snapshot', 'restore', 's1']);
    assert.equal(restored.result.exitCode, 0, String(restored.result.stderr));
    assert.equal(restored.json.machines[0].live, true);
    const after = await guest('cat /var/tmp/f; pgrep -x sleep >/dev/null && echo sleeping');
    assert.equal(after.exitCode, 0, after.err);
    assert.equal(after.out, 'one\nsleeping', 'the file and the process from before the snapshot are back');
  });

  // Leaves: running again (the second boot), with s1 and h1.
  test('halted snapshot: save h1, change the disk, restore h1, up: the file is as it was at h1', async () => {
    assert.equal((await guest('echo two > /var/tmp/f && sync')).exitCode, 0);
    assert.equal((await run(['halt'])).exitCode, 0);
    const saved = await runJson(['snapshot', 'save', 'h1']);
    assert.equal(saved.result.exitCode, 0, String(saved.result.stderr));
    assert.equal(saved.json.machines[0].snapshot.withMemory, false);
    // The change, while halted: s1's disk (the file says "one") goes back, and says it is the disk only.
    const toS1 = await runJson(['snapshot', 'restore', 's1']);
    assert.equal(toS1.result.exitCode, 0, String(toS1.result.stderr));
    assert.match(toS1.json.machines[0].note, /only the disk/);
    const restored = await runJson(['snapshot', 'restore', 'h1']);
    assert.equal(restored.result.exitCode, 0, String(restored.result.stderr));
    assert.equal(restored.json.machines[0].live, false);
    assert.equal((await run(['up'], 400_000)).exitCode, 0);
    assert.equal((await guest('cat /var/tmp/f')).out, 'two');
  });

  // Leaves: running, no snapshots.
  test('snapshot list --json shows both with their kind; delete removes them', async () => {
    const list = await runJson(['snapshot', 'list']);
    assert.equal(list.result.exitCode, 0);
    const snaps = list.json.machines[0].snapshots.map((s: {name: string; withMemory: boolean}) => `${s.name}:${s.withMemory}`);
    assert.deepEqual(snaps, ['s1:true', 'h1:false']);
    assert.equal((await run(['snapshot', 'delete', 's1'])).exitCode, 0);
    assert.equal((await run(['snapshot', 'delete', 'h1'])).exitCode, 0);
    assert.deepEqual((await runJson(['snapshot', 'list'])).json.machines[0].snapshots, []);
    assert.equal((await guest('echo still-up')).out, 'still-up');
  });

  // Leaves: stopped.
  test('halt --force discards a saved state: stopped, file gone; resume then refuses', async () => {
    assert.equal((await run(['suspend'])).exitCode, 0);
    assert.ok(existsSync(stateFile()));
    const {result, json} = await runJson(['halt', '--force']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.machines[0].status, 'stopped');
    assert.ok(!existsSync(stateFile()));
    const resume = await runJson(['resume']);
    assert.equal(resume.result.exitCode, 1);
    assert.equal(resume.json.error.code, 'ERR_NOT_SUSPENDED');
  });
});
