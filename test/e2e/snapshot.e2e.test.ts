/**
 * `box snapshot` on the qemu target with a REAL guest under TCG, one machine for every case:
 * a live snapshot (disk and RAM) restored into the running guest, then halted snapshots of its
 * disk, list and delete. Two boots in all (the first up, and the up after the halted restore).
 */
import assert from 'node:assert/strict';
import {writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {box, boxJson, tempDir} from '../helpers/cli.js';
import {takeE2eSlot} from '../helpers/e2e-slot.js';
import {addTestBox, ensureTestBox} from '../helpers/test-box.js';
import {removeE2eProject} from '../helpers/e2e-project.js';

describe('box snapshot with a real qemu guest', {timeout: 15 * 60_000}, () => {
  let release: () => Promise<void>;
  let home: Awaited<ReturnType<typeof tempDir>>;
  let project: Awaited<ReturnType<typeof tempDir>>;
  const run = (args: string[], timeoutMs = 240_000) => box(args, {cwd: project.dir, boxHome: home.dir, timeoutMs});
  const runJson = (args: string[], timeoutMs = 240_000) => boxJson(args, {cwd: project.dir, boxHome: home.dir, timeoutMs});
  const guest = async (command: string) => {
    const result = await run(['ssh', '-c', command]);
    return {exitCode: result.exitCode, out: String(result.stdout).trim(), err: String(result.stderr)};
  };

  before(async () => {
    release = await takeE2eSlot();
    await ensureTestBox();
    home = await tempDir('box-e2e-snap-home-');
    project = await tempDir('box-e2e-snap-');
    await addTestBox(home.dir);
    await writeFile(path.join(project.dir, 'Boxfile'), 'basebox: debian-12-minimal\ntarget: qemu\ntargets:\n  qemu: {cpus: 2, memory: 384}\n');
    const up = await run(['up'], 400_000);
    assert.equal(up.exitCode, 0, String(up.stderr));
  });

  after(async () => {
    await removeE2eProject(project, home);
    await release?.();
  });

  test('live: save s1, delete the file, restore s1: the running guest has it back and answers ssh at once', async () => {
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

  test('halted: save h1, change the disk, restore h1, up: the file is as it was at h1', async () => {
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

  test('list --json shows both with their kind; delete removes them', async () => {
    const list = await runJson(['snapshot', 'list']);
    assert.equal(list.result.exitCode, 0);
    const snaps = list.json.machines[0].snapshots.map((s: {name: string; withMemory: boolean}) => `${s.name}:${s.withMemory}`);
    assert.deepEqual(snaps, ['s1:true', 'h1:false']);
    assert.equal((await run(['snapshot', 'delete', 's1'])).exitCode, 0);
    assert.equal((await run(['snapshot', 'delete', 'h1'])).exitCode, 0);
    assert.deepEqual((await runJson(['snapshot', 'list'])).json.machines[0].snapshots, []);
    assert.equal((await guest('echo still-up')).out, 'still-up');
  });
});
