/**
 * `box snapshot` on the qemu target, with a real guest whose disk holds ~1 GiB of data written
 * after boot (in the machine's overlay): save and restore times of a live snapshot (disk + the
 * guest's RAM, over QMP) and of a halted one (qemu-img), as the user sees them (the CLI's wall
 * time, `box` start included). Prints one JSON object on stdout; progress on stderr. Takes the
 * machine-wide e2e slot (one boot, plus one after the halted restore).
 */
import {statSync} from 'node:fs';
import path from 'node:path';
import {median, withGuestProject} from './guest-project.js';

const runs = Number(process.env.BENCH_RUNS ?? 3);
const memoryMiB = 512;
const log = (m: string) => process.stderr.write(`[snapshot bench] ${m}\n`);
const boxfile = `basebox: debian-12-minimal\ntarget: qemu\ntargets:\n  qemu: {cpus: 2, memory: ${memoryMiB}, disk: 8}\n`;

await withGuestProject('box-bench-snapshot-', boxfile, async ({box, project}) => {
  const timed = async (args: string[]) => { const t0 = performance.now(); await box(args); return Math.round(performance.now() - t0); };
  log('up');
  await box(['up', '--no-provision']);
  // As much as fits of 1 GiB (the test box's file system is small), in incompressible data.
  const freeMiB = Number((await box(['ssh', '-c', 'df -m --output=avail /var/tmp | tail -1'])).trim());
  const fillMiB = Math.max(64, Math.min(1024, freeMiB - 150));
  log(`writing ${fillMiB} MiB in the guest (${freeMiB} MiB free)`);
  await box(['ssh', '-c', `sudo dd if=/dev/urandom of=/var/tmp/fill bs=1M count=${fillMiB} conv=fsync status=none`]);
  const diskBytes = statSync(path.join(project, '.box', 'machines', 'default', 'disk.qcow2')).size;

  const live = {save: [] as number[], restore: [] as number[], vmStateBytes: 0};
  for (let i = 0; i < runs; i++) {
    log(`live save/restore ${i + 1}/${runs}`);
    live.save.push(await timed(['snapshot', 'save', `live${i}`]));
    live.restore.push(await timed(['snapshot', 'restore', `live${i}`]));
  }
  const list = JSON.parse(await box(['snapshot', 'list', '--json'])) as {machines: Array<{snapshots: Array<{name: string; sizeBytes: number}>}>};
  live.vmStateBytes = list.machines[0]!.snapshots.find((s) => s.name === 'live0')!.sizeBytes;
  for (let i = 0; i < runs; i++) await box(['snapshot', 'delete', `live${i}`]);

  await box(['halt']);
  const halted = {save: [] as number[], restore: [] as number[]};
  for (let i = 0; i < runs; i++) {
    log(`halted save/restore ${i + 1}/${runs}`);
    halted.save.push(await timed(['snapshot', 'save', `halted${i}`]));
    halted.restore.push(await timed(['snapshot', 'restore', `halted${i}`]));
  }
  const statusMs = await timed(['status']);
  process.stdout.write(`${JSON.stringify({
    runs, guestMemoryMiB: memoryMiB, dataWrittenMiB: fillMiB, overlayBytes: diskBytes,
    liveSaveMs: median(live.save), liveRestoreMs: median(live.restore), liveVmStateBytes: live.vmStateBytes,
    haltedSaveMs: median(halted.save), haltedRestoreMs: median(halted.restore),
    cliBaselineStatusMs: statusMs,
    samples: {live, halted},
  }, null, 2)}\n`);
});
