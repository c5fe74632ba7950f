/**
 * rsync synced folders into a REAL qemu guest (TCG, 512 MiB), one guest shared by the cases:
 * `box up` copies the folders before the provisioners run (honouring exclude, .gitignore,
 * owner/group, never .box/); a file removed on the host disappears from the guest after
 * `box rsync`; `box rsync-auto` copies a change within 2 s (measured from the write until the
 * guest has it), ignores changes to ignored files, and ends on Ctrl-C with 130 and no process
 * left; a guest without rsync gets it installed; no rsync on the host is a clear error.
 */
import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {execa} from 'execa';
import {SshCommunicator} from '../../src/communicators/ssh/ssh-communicator.js';
import {boxBin, boxJson, box, tempDir} from '../helpers/cli.js';
import {takeE2eSlot} from '../helpers/e2e-slot.js';
import {removeE2eProject} from '../helpers/e2e-project.js';
import {addTestBox, ensureTestBox} from '../helpers/test-box.js';

const boxfile = `basebox: debian-12-minimal
targets:
  qemu: {cpus: 2, memory: 512}
synced_folders:
  - source: .
    destination: /srv/app
    exclude: ['*.log', '/scratch/']
    gitignore: true
  - source: web
    destination: /var/www/site
    owner: www-data
    group: www-data
provisioners:
  # The folders are there before the provisioners run.
  - {type: shell, inline: 'cat /srv/app/src/main.txt > /var/tmp/seen-by-provisioner'}
`;

function write(root: string, files: Record<string, string>): void {
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, file)), {recursive: true});
    writeFileSync(path.join(root, file), text);
  }
}

describe('rsync synced folders with a real qemu guest', {timeout: 20 * 60_000}, () => {
  let release: () => Promise<void>;
  let home: Awaited<ReturnType<typeof tempDir>>;
  let project: Awaited<ReturnType<typeof tempDir>>;
  let guest: SshCommunicator | undefined;
  const opts = (timeoutMs = 300_000) => ({cwd: project.dir, boxHome: home.dir, timeoutMs});

  /** Runs a command in the guest over a kept connection; its stdout. */
  async function inGuest(command: string): Promise<string> {
    let out = '';
    const code = await guest!.exec(command, {onOutput: (stream, data) => { if (stream === 'stdout') out += data; }});
    assert.equal(code, 0, `${command} exited ${code}`);
    return out.trim();
  }
  const guestHas = async (file: string): Promise<boolean> => (await inGuest(`test -e ${file} && echo yes || echo no`)) === 'yes';

  before(async () => {
    release = await takeE2eSlot();
    await ensureTestBox();
    home = await tempDir('box-e2e-rsync-home-');
    project = await tempDir('box-e2e-rsync-project-');
    await addTestBox(home.dir);
    writeFileSync(path.join(project.dir, 'Boxfile'), boxfile);
    write(project.dir, {
      '.gitignore': 'ignored/\n',
      'src/main.txt': 'main\n', 'src/gone.txt': 'to be removed\n', 'debug.log': 'log\n',
      'ignored/big.bin': 'ignored\n', 'scratch/tmp.txt': 'scratch\n', 'web/index.html': '<h1>hi</h1>\n',
    });
    execFileSync('git', ['init', '-q', project.dir]);
  });

  after(async () => {
    await guest?.close().catch(() => undefined);
    await removeE2eProject(project, home);
    await release?.();
  });

  test('box up copies the folders before the provisioners run: excludes, .gitignore, owner and group honoured, .box/ never copied', async () => {
    const {result, json} = await boxJson(['up'], opts(600_000));
    assert.equal(result.exitCode, 0, String(result.stderr));
    const [machine] = json.machines;
    assert.equal(machine.sync.length, 2, JSON.stringify(machine));
    assert.equal(machine.sync[0].destination, '/srv/app');
    assert.ok(machine.sync[0].filesTransferred >= 4, JSON.stringify(machine.sync[0]));
    assert.ok(typeof machine.timings.sync === 'number');
    const config = await boxJson(['ssh-config'], opts());
    const m = config.json.machines[0];
    guest = await SshCommunicator.fromSshInfo({host: m.host, port: m.port, username: m.user, privateKeyPath: m.identityFile});
    await guest.waitForReady(60_000, new AbortController().signal);

    assert.equal(await inGuest('cat /var/tmp/seen-by-provisioner'), 'main');
    assert.equal(await inGuest('cat /srv/app/src/main.txt'), 'main');
    assert.ok(await guestHas('/srv/app/Boxfile'));
    assert.ok(!(await guestHas('/srv/app/.box')), '.box/ must never reach the guest');
    assert.ok(!(await guestHas('/srv/app/debug.log')), 'excluded *.log');
    assert.ok(!(await guestHas('/srv/app/scratch')), 'excluded /scratch/');
    assert.ok(!(await guestHas('/srv/app/ignored')), 'ignored by .gitignore');
    assert.equal(await inGuest('stat -c %U:%G /srv/app/src/main.txt /srv/app'), 'vagrant:vagrant\nvagrant:vagrant');
    assert.equal(await inGuest('stat -c %U:%G /var/www/site/index.html /var/www/site'), 'www-data:www-data\nwww-data:www-data');
  });

  test('a file removed on the host disappears from the guest after box rsync; box up of the running machine syncs too', async () => {
    rmSync(path.join(project.dir, 'src/gone.txt'));
    const {result, json} = await boxJson(['rsync'], opts());
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.machines[0].folders[0].filesDeleted, 1, JSON.stringify(json));
    assert.ok(!(await guestHas('/srv/app/src/gone.txt')));
    assert.ok(await guestHas('/srv/app/src/main.txt'));

    write(project.dir, {'src/main.txt': 'changed\n'});
    const again = await boxJson(['up'], opts());
    assert.equal(again.result.exitCode, 0, String(again.result.stderr));
    assert.equal(again.json.machines[0].created, false);
    assert.equal(again.json.machines[0].sync[0].filesTransferred, 1);
    assert.equal(await inGuest('cat /srv/app/src/main.txt'), 'changed');
  });

  test('box rsync-auto copies a change within 2 s, not a change to an ignored file, and ends on Ctrl-C with 130 leaving no process', async () => {
    const child = execa(process.execPath, [boxBin, 'rsync-auto', '--json', '--debounce', '200'], {cwd: project.dir, env: {BOX_HOME: home.dir, NO_COLOR: '1'}, reject: false});
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const waitFor = async (what: RegExp, ms: number) => {
      const deadline = Date.now() + ms;
      while (!what.test(stderr)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await waitFor(/watching/, 120_000);
      const syncedBefore = (stderr.match(/files? sent/g) ?? []).length;

      // An ignored file, an excluded one and a change under .box/ copy nothing.
      write(project.dir, {'ignored/new.bin': 'x', 'more.log': 'x', '.box/noise': 'x'});
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((stderr.match(/files? sent/g) ?? []).length, syncedBefore, `an ignored change triggered a copy:\n${stderr}`);

      const t0 = Date.now();
      write(project.dir, {'src/live.txt': 'live\n'});
      let seenMs = -1;
      while (Date.now() - t0 < 10_000) {
        if (await guestHas('/srv/app/src/live.txt')) {
          seenMs = Date.now() - t0;
          break;
        }
      }
      console.log(`rsync-auto: change in the guest ${seenMs} ms after the write`);
      assert.ok(seenMs >= 0 && seenMs <= 2000, `the guest had the change after ${seenMs} ms (at most 2000 ms)\n${stderr}`);
      // The copy is reported once rsync has ended (the guest may have the file a moment before).
      await waitFor(/\/srv\/app: 1 file sent/, 10_000);
    } finally {
      child.kill('SIGINT');
    }
    const result = await child;
    assert.equal(result.exitCode, 130, `${result.stderr}`);
    const doc = JSON.parse(String(result.stdout));
    assert.equal(doc.error.code, 'ERR_INTERRUPTED');
    assert.ok(doc.syncs.some((s: {trigger: string; filesTransferred: number}) => s.trigger === 'change' && s.filesTransferred === 1), JSON.stringify(doc.syncs));
    // No rsync or ssh of this machine outlives the command.
    const keyFile = (await boxJson(['ssh-config'], opts())).json.machines[0].identityFile as string;
    const left = execFileSync('ps', ['-eo', 'pid=,args='], {encoding: 'utf8'}).split('\n')
      .filter((l) => /^\s*\d+ (\S*\/)?(rsync|ssh) /.test(l) && (l.includes(keyFile) || l.includes(project.dir)));
    assert.deepEqual(left, []);
  });

  test('a guest without rsync gets it from its package manager (apt-get) at the next copy', async () => {
    await inGuest('sudo -n dpkg -r rsync >/dev/null 2>&1; command -v rsync || echo removed');
    assert.equal(await inGuest('command -v rsync || echo none'), 'none');
    write(project.dir, {'src/after-install.txt': 'x\n'});
    const {result, json} = await boxJson(['rsync'], opts(600_000));
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.match(String(result.stderr), /installing rsync in the guest/);
    assert.equal(json.machines[0].folders[0].filesTransferred, 1);
    assert.ok(await guestHas('/srv/app/src/after-install.txt'));
  });

  test('no rsync on the host is a clear error with an install hint (exit 1)', async () => {
    // A PATH holding everything of the usual one except rsync.
    const bin = path.join(home.dir, 'bin-without-rsync');
    mkdirSync(bin, {recursive: true});
    for (const dir of ['/usr/local/bin', '/usr/bin', '/bin']) {
      for (const entry of readdirSync(dir)) {
        if (entry === 'rsync') continue;
        try {
          symlinkSync(path.join(dir, entry), path.join(bin, entry));
        } catch {
          // already linked from an earlier folder
        }
      }
    }
    const result = await box(['rsync'], {...opts(), env: {PATH: bin}});
    assert.equal(result.exitCode, 1, String(result.stderr));
    assert.match(String(result.stderr), /rsync is not installed or not on PATH/);
    assert.match(String(result.stderr), /apt-get install rsync/);
  });
});
