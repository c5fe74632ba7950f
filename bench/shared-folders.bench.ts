/**
 * qemu target, `type: virtiofs` synced folder (TCG): small-file work in the guest on the
 * shared folder vs on the guest's own disk, same guest, same run: write N files of 1 KiB, read
 * them all, list them (`find`), delete them. Timed inside the guest (so SSH is not counted);
 * plus what mounting adds to `up` (the synced-folders step). Runs alternate; medians reported.
 * One JSON object on stdout. Takes the machine-wide e2e slot.
 */
import {mkdirSync, chmodSync} from 'node:fs';
import path from 'node:path';
import {median, withGuestProject} from './guest-project.js';

const runs = Number(process.env.BENCH_RUNS ?? 3);
const files = Number(process.env.BENCH_FILES ?? 1000);
const log = (m: string) => process.stderr.write(`[shared-folders bench] ${m}\n`);

const boxfile = `basebox: debian-12-minimal
targets:
  qemu: {cpus: 2, memory: 256}
synced_folders:
  - {source: live, destination: /srv/live, type: virtiofs}
`;

// Milliseconds of each phase in the folder, printed as JSON (the writes use the shell's printf: no process per file).
const script = (dir: string) => `set -e
d=${dir}/bench; rm -rf "$d"; mkdir -p "$d"
ms() { echo $(( $(date +%s%N) / 1000000 )); }
blob=$(head -c 768 /dev/urandom | base64 -w0)
t0=$(ms); i=0; while [ $i -lt ${files} ]; do printf '%s' "$blob" > "$d/f$i"; i=$((i+1)); done; sync
t1=$(ms); cat "$d"/* > /dev/null
t2=$(ms); find "$d" -type f | wc -l > /dev/null
t3=$(ms); rm -rf "$d"
t4=$(ms)
echo "{\\"write\\": $((t1-t0)), \\"read\\": $((t2-t1)), \\"find\\": $((t3-t2)), \\"delete\\": $((t4-t3))}"`;

type Phases = {write: number; read: number; find: number; delete: number};

await withGuestProject('box-bench-shared-', boxfile, async ({box, project}) => {
  const live = path.join(project, 'live');
  mkdirSync(live);
  chmodSync(live, 0o777);
  log('first up (not measured)');
  await box(['up', '--no-provision']);
  await box(['halt']);
  log('up of the halted machine (mount measured)');
  const mount = JSON.parse(await box(['up', '--no-provision', '--json'])).machines[0].timings.syncedFolders as number;
  const shared: Phases[] = [];
  const local: Phases[] = [];
  for (let i = 0; i < runs; i++) {
    for (const where of ['shared', 'local'] as const) {
      log(`${files} files on the ${where} folder ${i + 1}/${runs}`);
      const out = await box(['ssh', '-c', script(where === 'shared' ? '/srv/live' : '/home/vagrant')]);
      (where === 'shared' ? shared : local).push(JSON.parse(out.trim().split('\n').pop()!) as Phases);
    }
  }
  const med = (xs: Phases[]) => Object.fromEntries((['write', 'read', 'find', 'delete'] as const).map((k) => [k, median(xs.map((x) => x[k]))]));
  process.stdout.write(`${JSON.stringify({runs, files, fileBytes: 1024, mountStepMs: mount, sharedVirtiofsMs: med(shared), guestDiskMs: med(local), samples: {shared, local}}, null, 2)}\n`);
});
