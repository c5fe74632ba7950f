import assert from 'node:assert/strict';
import {existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {after, before, beforeEach, describe, test} from 'node:test';
import {setTimeout as sleep} from 'node:timers/promises';
import {shellProvisioner} from '../../src/provisioners/shell.js';
import {alive, provisionFixture, type ProvisionFixture} from './context.js';

describe('shell provisioner', () => {
  let f: ProvisionFixture;

  before(async () => {
    f = await provisionFixture();
  });

  beforeEach(() => {
    f.lines.length = 0;
  });

  after(async () => {
    await f?.dispose();
  });

  test('an inline script runs with sudo by default and its output is streamed with the prefix', async () => {
    const out = path.join(f.sshd.dir, 'inline.out');
    await shellProvisioner.provision(f.context(), {type: 'shell', inline: `echo "user=$SUDO_USER" > ${out}; echo hello; echo oops >&2`});
    assert.equal(readFileSync(out, 'utf8'), `user=${f.sshd.username}\n`);
    assert.ok(f.lines.includes('web: hello'), f.lines.join('\n'));
    assert.ok(f.lines.includes('web: oops'));
  });

  test('privileged: false runs without sudo', async () => {
    const out = path.join(f.sshd.dir, 'unprivileged.out');
    await shellProvisioner.provision(f.context(), {type: 'shell', inline: `echo "user=[$SUDO_USER]" > ${out}`, privileged: false});
    assert.equal(readFileSync(out, 'utf8'), 'user=[]\n');
  });

  test('a list of inline lines runs as one script, in bash when there is no shebang', async () => {
    const out = path.join(f.sshd.dir, 'list.out');
    await shellProvisioner.provision(f.context(), {type: 'shell', inline: ['x=1', 'y=$((x + 1))', `echo "$y \${BASH_VERSION:+bash}" > ${out}`]});
    assert.equal(readFileSync(out, 'utf8'), '2 bash\n');
  });

  test('a script from a path runs with its args and env, resolved against the project root', async () => {
    mkdirSync(path.join(f.projectRoot, 'scripts'), {recursive: true});
    const out = path.join(f.sshd.dir, 'path.out');
    writeFileSync(path.join(f.projectRoot, 'scripts', 'setup.sh'), [
      '#!/bin/sh',
      'set -e',
      `printf '%s\\n' "argc=$#" "1=$1" "2=$2" "greeting=$GREETING" "shell=$0" > ${out}`,
      '',
    ].join('\n'));
    await shellProvisioner.provision(f.context(), {
      type: 'shell',
      path: 'scripts/setup.sh',
      args: ['two words', `it's "quoted"`],
      env: {GREETING: 'hello $USER; world'},
    });
    const lines = readFileSync(out, 'utf8').split('\n');
    assert.deepEqual(lines.slice(0, 4), ['argc=2', '1=two words', `2=it's "quoted"`, 'greeting=hello $USER; world']);
    assert.match(lines[4], /^shell=\/tmp\/box-shell-\w+\.sh$/);
  });

  test('a script with Windows line endings runs as if written with Unix ones', async () => {
    const out = path.join(f.sshd.dir, 'crlf.out');
    writeFileSync(path.join(f.projectRoot, 'crlf.sh'), `#!/bin/sh\r\nset -e\r\nword=fine\r\necho "$word" > ${out}\r\n`);
    await shellProvisioner.provision(f.context(), {type: 'shell', path: 'crlf.sh'});
    assert.equal(readFileSync(out, 'utf8'), 'fine\n');
  });

  test('while the script uploads, no copy of it exists in the temp folder (a kill -9 then leaves none)', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'box-shell-tmp-'));
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    const seen: string[][] = [];
    const comm = new Proxy(f.comm, {get: (target, key) => key === 'upload'
      ? (local: string, remote: string, o: unknown) => { seen.push(readdirSync(tmp)); return target.upload(local, remote, o as never); }
      : Reflect.get(target, key, target).bind?.(target) ?? Reflect.get(target, key, target)});
    try {
      const out = path.join(f.sshd.dir, 'via-fd.out');
      await shellProvisioner.provision({...f.context(), comm}, {type: 'shell', inline: `echo uploaded-from-an-unlinked-file > ${out}`});
      assert.equal(readFileSync(out, 'utf8'), 'uploaded-from-an-unlinked-file\n');
      assert.deepEqual(seen, [[]], 'the temp folder was already empty during the upload');
      assert.deepEqual(readdirSync(tmp), []);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
      rmSync(tmp, {recursive: true, force: true});
    }
  });

  test('the uploaded script is removed from the guest afterwards', async () => {
    const out = path.join(f.sshd.dir, 'script-path.out');
    await shellProvisioner.provision(f.context(), {type: 'shell', inline: `echo "$0" > ${out}`});
    const script = readFileSync(out, 'utf8').trim();
    assert.match(script, /^\/tmp\/box-shell-\w+\.sh$/);
    assert.equal(existsSync(script), false, `${script} was left behind`);
  });

  test('a failing script stops with ERR_PROVISION_FAILED, its exit code and the last 20 lines', async () => {
    const script = 'for i in $(seq 1 30); do echo "line $i"; done; echo "fatal: broken" >&2; exit 7';
    await assert.rejects(shellProvisioner.provision(f.context(), {type: 'shell', name: 'breaks', inline: script}), (error: {code: string; message: string; details: {exitCode: number; outputTail: string[]}}) => {
      assert.equal(error.code, 'ERR_PROVISION_FAILED');
      assert.equal(error.details.exitCode, 7);
      assert.match(error.message, /Provisioner "breaks" \(shell\) failed: exit code 7\./);
      assert.match(error.message, /fatal: broken/);
      assert.match(error.message, /line 30/);
      assert.match(error.message, /line 12\n/);
      assert.doesNotMatch(error.message, /line 11\n/);
      assert.equal(error.details.outputTail.length, 20);
      return true;
    });
  });

  test('a script path that does not exist is reported with where it was looked for', async () => {
    await assert.rejects(shellProvisioner.provision(f.context(), {type: 'shell', path: 'missing.sh'}), (error: {code: string; message: string}) => {
      assert.equal(error.code, 'ERR_PROVISION_SCRIPT_MISSING');
      assert.ok(error.message.includes(path.join(f.projectRoot, 'missing.sh')));
      return true;
    });
  });

  test('an abort signal stops the script and the processes it started, with ERR_INTERRUPTED', async () => {
    const controller = new AbortController();
    const pidFile = path.join(f.sshd.dir, 'child.pid');
    const started = Date.now();
    const run = shellProvisioner.provision(f.context(controller.signal), {type: 'shell', inline: `sleep 30 & echo $! > ${pidFile}; wait`});
    while (!existsSync(pidFile) && Date.now() - started < 10_000) await sleep(50);
    const child = Number(readFileSync(pidFile, 'utf8'));
    try {
      controller.abort();
      await assert.rejects(run, {code: 'ERR_INTERRUPTED'});
      assert.ok(Date.now() - started < 8000);
      assert.equal(alive(child), false, `the script's child ${child} still runs`);
    } finally {
      if (alive(child)) process.kill(child, 'SIGKILL');
    }
  });
});
