/**
 * qemu target: what the private network adds to `box up` of a machine that exists (halted):
 * boot-to-SSH (QEMU start + wait for the SSH banner) with and without the second NIC, and
 * the guest-side step (interface + /etc/hosts over SSH). Runs alternate so a busy host weighs
 * on both alike; medians reported. One JSON object on stdout. Takes the machine-wide e2e slot.
 */
import {median, withGuestProject} from './guest-project.js';

const runs = Number(process.env.BENCH_RUNS ?? 2);
const log = (m: string) => process.stderr.write(`[private-network bench] ${m}\n`);

const boxfile = (networks: boolean) => `basebox: debian-12-minimal\ntargets:\n  qemu: {cpus: 2, memory: 256}\n${networks ? 'networks: [{type: private}]\n' : ''}`;

await withGuestProject('box-bench-pnet-', boxfile(false), async ({box, writeBoxfile}) => {
  log('creating the machine (first up, not measured)');
  await box(['up', '--no-provision']);
  await box(['halt']);
  const plain: number[] = [];
  const withNic: number[] = [];
  const configure: number[] = [];
  for (let i = 0; i < runs; i++) {
    for (const networks of [false, true]) {
      writeBoxfile(boxfile(networks));
      log(`up ${networks ? 'with' : 'without'} the private network ${i + 1}/${runs}`);
      const t = JSON.parse(await box(['up', '--no-provision', '--json'])).machines[0].timings;
      (networks ? withNic : plain).push(t.startQemu + t.waitForSsh);
      if (networks) configure.push(t.privateNetwork);
      await box(['halt']);
    }
  }
  process.stdout.write(`${JSON.stringify({
    runs,
    bootToSshMs: {withoutPrivateNetwork: median(plain), withPrivateNetwork: median(withNic), addedMs: median(withNic) - median(plain), samples: {plain, withNic}},
    configurePrivateNetworkMs: {median: median(configure), samples: configure},
  }, null, 2)}\n`);
});
