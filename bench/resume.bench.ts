/**
 * qemu target: resume-to-SSH vs cold boot-to-SSH of the SAME machine (issue 15 item 3, issue 16
 * item 2). One machine (2 cpus, 512 MiB) is created once; then, alternating, `box up` of it
 * halted (a cold boot: kernel, systemd, sshd) and `box up` of it suspended (QEMU loads the saved
 * state; no boot), each timed from the command's start to its exit (box up returns once SSH
 * answers), plus the provider's own boot/load and SSH-wait stages from `--json`. The suspend is
 * timed too. Prints one JSON object on stdout (with the load average); progress on stderr.
 * Takes the machine-wide e2e slot.
 */
import os from 'node:os';
import {median, withGuestProject} from './guest-project.js';

const runs = Number(process.env.BENCH_RUNS ?? 3);
const log = (m: string) => process.stderr.write(`[resume bench] ${m}\n`);

const boxfile = 'basebox: debian-12-minimal\ntarget: qemu\ntargets:\n  qemu:\n    cpus: 2\n    memory: 512\n';

const result = await withGuestProject('box-bench-resume-', boxfile, async (guest) => {
  const timed = async (args: string[]) => {
    const t0 = performance.now();
    const out = JSON.parse(await guest.box([...args, '--json']));
    return {ms: Math.round(performance.now() - t0), json: out};
  };
  log('first up (creates the machine; not counted)');
  await guest.box(['up']);
  const cold: number[] = [];
  const resumed: number[] = [];
  const suspends: number[] = [];
  const stateMiB: number[] = [];
  const stages: Array<{cold: Record<string, number>; resume: Record<string, number>}> = [];
  for (let i = 0; i < runs; i++) {
    await guest.box(['halt']);
    const c = await timed(['up']);
    cold.push(c.ms);
    const s = await timed(['suspend']);
    suspends.push(s.ms);
    stateMiB.push(Math.round(s.json.machines[0].stateBytes / 1024 ** 2));
    const r = await timed(['up']);
    if (!r.json.machines[0].resumed) throw new Error('the up after a suspend did not resume');
    resumed.push(r.ms);
    stages.push({cold: c.json.machines[0].timings, resume: r.json.machines[0].timings});
    log(`run ${i + 1}/${runs}: cold up ${c.ms} ms, suspend ${s.ms} ms (${stateMiB.at(-1)} MiB), resume up ${r.ms} ms`);
  }
  return {
    runs,
    coldUpToSshMs: {median: median(cold), all: cold},
    resumeUpToSshMs: {median: median(resumed), all: resumed},
    resumeOverCold: Number((median(resumed) / median(cold)).toFixed(3)),
    suspendMs: {median: median(suspends), all: suspends},
    stateMiB: median(stateMiB),
    stages,
  };
});
process.stdout.write(JSON.stringify({...result, loadavg: os.loadavg().map((l) => Number(l.toFixed(2))), cpus: os.cpus().length}, null, 2) + '\n');
