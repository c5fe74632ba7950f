// The aws provider's own cost against the moto EC2 emulator (no network, no real boot): wall time
// and EC2 API calls per lifecycle action, averaged over a few rounds. On real EC2 the waits
// (instance boot, stop, terminate) dominate; these numbers show what box adds on top.
import {mkdtemp, rm} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {AwsProvider} from '../src/providers/aws/aws-provider.js';
import {setAwsCommunicatorFactory} from '../src/providers/aws/communicator-factory.js';
import {FakeCommunicator} from '../test/helpers/fake-ssh.js';
import {startMoto, useMotoEnv} from '../test/helpers/moto.js';
import {startFaultProxy} from '../test/providers/aws/fault-proxy.js';
import {awsContext, awsMachine} from '../test/providers/aws/machine.js';
import {silentUi} from '../src/core/ui.js';
import {sweep} from '../src/services/sweep.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const moto = await startMoto();
const restore = useMotoEnv(moto);
process.env.BOX_AWS_POLL_SECONDS = '0.2';
const proxy = await startFaultProxy(moto.url);
setAwsCommunicatorFactory(async (info, dir) => new FakeCommunicator(dir, info));
const home = await mkdtemp(path.join(os.tmpdir(), 'box-bench-aws-home-'));
process.env.BOX_HOME = home;
const actions = ['up-create', 'halt', 'up-start', 'status', 'destroy', 'sweep-orphan'] as const;
const ms: Record<string, number[]> = Object.fromEntries(actions.map((a) => [a, []]));
const calls: Record<string, number[]> = Object.fromEntries(actions.map((a) => [a, []]));
try {
  for (let round = 0; round < ROUNDS; round++) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'box-bench-aws-'));
    const ctx = awsContext(dir, awsMachine('web', {ami: 'ami-1e749f67', ssh_cidr: '203.0.113.4/32', endpoint: proxy.url, block_device_mappings: [{device_name: '/dev/sdb', volume_size: 4}]}));
    const provider = new AwsProvider();
    const steps: Record<(typeof actions)[number], () => Promise<unknown>> = {
      'up-create': () => provider.up(ctx),
      halt: () => provider.halt(ctx, {force: false, timeoutSeconds: 30}),
      'up-start': () => provider.up(ctx),
      status: () => provider.status(ctx),
      destroy: () => provider.destroy(ctx),
      // A machine whose project state was lost: sweep finds and removes its instance, key pair and group.
      'sweep-orphan': () => sweep({dryRun: false, allHosts: false, endpoint: proxy.url, ui: silentUi(), signal: new AbortController().signal}),
    };
    for (const action of actions) {
      if (action === 'sweep-orphan') {
        await provider.up(ctx);
        await rm(path.join(dir, '.box'), {recursive: true, force: true});
      }
      const before = [...proxy.hits.values()].reduce((a, b) => a + b, 0);
      const t0 = performance.now();
      await steps[action]();
      ms[action].push(performance.now() - t0);
      calls[action].push([...proxy.hits.values()].reduce((a, b) => a + b, 0) - before);
    }
    await rm(dir, {recursive: true, force: true});
  }
} finally {
  await proxy.close();
  restore();
  await moto.stop();
  await rm(home, {recursive: true, force: true});
}
const mean = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);
console.log(JSON.stringify({
  rounds: ROUNDS,
  pollSeconds: 0.2,
  meanMs: Object.fromEntries(actions.map((a) => [a, mean(ms[a])])),
  ec2CallsPerAction: Object.fromEntries(actions.map((a) => [a, mean(calls[a])])),
}, null, 2));
