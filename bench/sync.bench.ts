/**
 * rsync synced folders: 10 000 small files (100 folders of 100) copied into a REAL qemu guest,
 * first copy and incremental (one file changed), `box rsync` vs plain `rsync -a -e 'ssh ...'`
 * by hand to another folder of the same guest, in the same run, alternating. Box's numbers are
 * the whole command (node start, Boxfile, guest check, rsync) and the rsync run alone (its JSON
 * durationMs). Prints one JSON object on stdout; progress on stderr. Takes the e2e slot.
 */
import {mkdirSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {execa} from 'execa';
import {median, withGuestProject} from './guest-project.js';

const FILES = 10_000;
const runs = Number(process.env.BENCH_RUNS ?? 3);
const log = (m: string) => process.stderr.write(`[sync bench] ${m}\n`);
const round = (n: number) => Math.round(n);

const boxfile = `basebox: debian-12-minimal
targets:
  qemu: {cpus: 2, memory: 512}
synced_folders:
  - {source: tree, destination: /srv/tree}
`;

const result = await withGuestProject('box-bench-sync-', boxfile, async (guest) => {
  const tree = path.join(guest.project, 'tree');
  for (let i = 0; i < FILES; i++) {
    const dir = path.join(tree, `d${String(Math.floor(i / 100)).padStart(3, '0')}`);
    if (i % 100 === 0) mkdirSync(dir, {recursive: true});
    writeFileSync(path.join(dir, `f${i}.txt`), `file ${i}\n`);
  }
  log('box up (its first copy of the tree included)');
  const up = JSON.parse(await guest.box(['up', '--json']));
  const upSyncMs = up.machines[0].sync[0].durationMs as number;
  const m = JSON.parse(await guest.box(['ssh-config', '--json'])).machines[0];
  const ssh = ['ssh', '-i', m.identityFile, '-p', String(m.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR'];
  const inGuest = (command: string) => execa(ssh[0]!, [...ssh.slice(1), `${m.user}@${m.host}`, command], {stdin: 'ignore'});

  const boxRsync = async (): Promise<{wallMs: number; rsyncMs: number; files: number}> => {
    const t0 = performance.now();
    const doc = JSON.parse(await guest.box(['rsync', '--json']));
    const folder = doc.machines[0].folders[0];
    return {wallMs: performance.now() - t0, rsyncMs: folder.durationMs, files: folder.filesTransferred};
  };
  const plainRsync = async (): Promise<number> => {
    const t0 = performance.now();
    await execa('rsync', ['-a', '-e', ssh.join(' '), `${tree}/`, `${m.user}@${m.host}:/tmp/plain-tree`], {stdin: 'ignore'});
    return performance.now() - t0;
  };

  const first = {box: [] as number[], boxRsync: [] as number[], plain: [] as number[]};
  const incremental = {box: [] as number[], boxRsync: [] as number[], plain: [] as number[]};
  for (let run = 0; run < runs; run++) {
    log(`first copy, run ${run + 1}/${runs}`);
    await inGuest('sudo rm -rf /srv/tree /tmp/plain-tree');
    const b = await boxRsync();
    if (b.files !== FILES) throw new Error(`box copied ${b.files} files, expected ${FILES}`);
    first.box.push(b.wallMs);
    first.boxRsync.push(b.rsyncMs);
    first.plain.push(await plainRsync());

    log(`incremental (one file changed), run ${run + 1}/${runs}`);
    writeFileSync(path.join(tree, 'd000', 'f0.txt'), `changed ${run}\n`);
    const i = await boxRsync();
    if (i.files !== 1) throw new Error(`box copied ${i.files} files after one change`);
    incremental.box.push(i.wallMs);
    incremental.boxRsync.push(i.rsyncMs);
    incremental.plain.push(await plainRsync());
  }
  const summary = (s: typeof first) => ({
    box_rsync_command_ms: round(median(s.box)),
    box_rsync_run_ms: round(median(s.boxRsync)),
    plain_rsync_ms: round(median(s.plain)),
    ratio_command_vs_plain: Math.round((median(s.box) / median(s.plain)) * 100) / 100,
    ratio_rsync_run_vs_plain: Math.round((median(s.boxRsync) / median(s.plain)) * 100) / 100,
  });
  return {files: FILES, runs, box_up_first_copy_ms: upSyncMs, first: summary(first), incremental: summary(incremental)};
});
console.log(JSON.stringify(result, null, 2));
