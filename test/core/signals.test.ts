import assert from 'node:assert/strict';
import {readFile} from 'node:fs/promises';
import path from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import {after, before, describe, test} from 'node:test';
import {execa, type ResultPromise} from 'execa';
import {boxBin, tempDir} from '../helpers/cli.js';
import {writeFiles} from '../boxfile/helpers.js';

/** CPU seconds a process (all its threads) has used, from /proc (Linux clock ticks of 1/100 s). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

// SIGTERM and Ctrl-C end box within a second in every phase, including the CPU-heavy load of a
// large Boxfile (a 9.7 MB one once ran for an hour and ignored `timeout`). The signal is sent
// once the process has used enough CPU to be well inside that load, which takes several seconds.
describe('signals during a CPU-heavy phase', () => {
  let dir: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    ({dir, cleanup} = await tempDir('box-signals-'));
    const machines = Array.from({length: 45_000}, (_, i) => `  m${i}: {targets: {qemu: {memory: 512M}}}`).join('\n');
    await writeFiles(dir, {'big/Boxfile': `basebox: debian-12\nmachines:\n${machines}\n`});
  });
  after(() => cleanup());

  async function interruptLoading(args: string[], signal: 'SIGTERM' | 'SIGINT'): Promise<{exitCode?: number; stdout: string; stderr: string; ms: number}> {
    const child: ResultPromise = execa(process.execPath, [boxBin, ...args], {
      cwd: path.join(dir, 'big'), env: {BOX_HOME: path.join(dir, 'home'), NO_COLOR: '1'}, reject: false, timeout: 120_000,
    });
    let exited = false;
    void child.finally(() => { exited = true; });
    // Start-up takes about 0.5 s of CPU; past 1.5 s the Boxfile is being loaded.
    while (!exited && await cpuSeconds(child.pid!).catch(() => 0) < 1.5) await sleep(20);
    assert.equal(exited, false, 'box finished before the signal could be sent: the Boxfile is too small for this test');
    const sent = performance.now();
    child.kill(signal);
    const result = await child;
    return {exitCode: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr), ms: performance.now() - sent};
  }

  test('SIGTERM ends `box validate --json` within a second with exit 143 and the error document', async () => {
    const {exitCode, stdout, stderr, ms} = await interruptLoading(['validate', '--json'], 'SIGTERM');
    assert.equal(exitCode, 143, stderr);
    assert.ok(ms < 1500, `box took ${Math.round(ms)} ms to end after SIGTERM`);
    const json = JSON.parse(stdout);
    assert.deepEqual([json.error.code, json.error.exitCode, json.error.details.signal], ['ERR_INTERRUPTED', 143, 'SIGTERM']);
  });

  test('Ctrl-C (SIGINT) ends `box validate` within a second with exit 130', async () => {
    const {exitCode, stdout, stderr, ms} = await interruptLoading(['validate'], 'SIGINT');
    assert.equal(exitCode, 130, stderr);
    assert.ok(ms < 1500, `box took ${Math.round(ms)} ms to end after SIGINT`);
    assert.equal(stdout, '');
    assert.match(stderr, /Interrupted/);
  });

  test('SIGTERM ends a lifecycle command (`box status`) while it loads the Boxfile, with exit 143', async () => {
    const {exitCode, stdout, stderr, ms} = await interruptLoading(['status', '--json'], 'SIGTERM');
    assert.equal(exitCode, 143, stderr);
    assert.ok(ms < 1500, `box took ${Math.round(ms)} ms to end after SIGTERM`);
    assert.equal(JSON.parse(stdout).error.code, 'ERR_INTERRUPTED');
  });
});
