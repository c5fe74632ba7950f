/**
 * `box up` of a project's three machines (256 MiB each, halted) all at once (the default)
 * against one after another (--no-parallel), in the same run: alternating rounds so a busy host
 * weighs on both alike; medians reported, with the ratio. One JSON object on stdout. Takes the
 * machine-wide e2e slot.
 */
import {median, withGuestProject} from './guest-project.js';

const runs = Number(process.env.BENCH_RUNS ?? 2);
const log = (m: string) => process.stderr.write(`[parallel-up bench] ${m}\n`);

await withGuestProject('box-bench-parallel-', 'basebox: debian-12-minimal\ntargets:\n  qemu: {cpus: 1, memory: 256}\nmachines:\n  web:\n  app:\n  db:\n', async ({box}) => {
  log('creating the three machines (not measured)');
  await box(['up', '--no-provision']);
  await box(['halt']);
  const parallel: number[] = [];
  const sequential: number[] = [];
  for (let i = 0; i < runs; i++) {
    for (const mode of ['parallel', 'sequential'] as const) {
      log(`up of 3 machines, ${mode}, ${i + 1}/${runs}`);
      const t0 = performance.now();
      await box(['up', '--no-provision', ...(mode === 'sequential' ? ['--no-parallel'] : [])]);
      (mode === 'parallel' ? parallel : sequential).push(Math.round(performance.now() - t0));
      await box(['halt']);
    }
  }
  process.stdout.write(`${JSON.stringify({
    runs, machines: 3,
    upMs: {parallel: median(parallel), sequential: median(sequential), ratio: Number((median(parallel) / median(sequential)).toFixed(2)), samples: {parallel, sequential}},
  }, null, 2)}\n`);
});
