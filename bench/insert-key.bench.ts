/**
 * The cost of ending password logins with the key swap (issue 10 S3): on ONE booted guest,
 * the first-boot key swap as `up` runs it (log in with Vagrant's insecure key, add the machine
 * key, prove it, remove the old key) timed without and with the password lock riding in the
 * removal command, alternated so load weighs on both alike. Between runs the guest is put back
 * as a fresh box has it (only the insecure key, password vagrant, no sshd drop-in).
 * Prints one JSON object on stdout; progress on stderr. Takes the machine-wide e2e slot.
 */
import path from 'node:path';
import {INSECURE_PRIVATE_KEY, INSECURE_PUBLIC_KEY} from '../src/communicators/insecure-key.js';
import {ensureMachineKey} from '../src/communicators/keys.js';
import {replaceInsecureKey} from '../src/communicators/ssh/replace-insecure-key.js';
import {SshCommunicator} from '../src/communicators/ssh/ssh-communicator.js';
import {lockPasswordLoginsScript} from '../src/providers/shared/guest-scripts.js';
import {median, withGuestProject} from './guest-project.js';

const runs = Number(process.env.BENCH_RUNS ?? 5);
const log = (m: string) => process.stderr.write(`[insert-key bench] ${m}\n`);
const never = new AbortController().signal;

await withGuestProject('box-bench-key-', 'basebox: debian-12-minimal\ntarget: qemu\ntargets:\n  qemu: {cpus: 2, memory: 512}\n', async ({project, box}) => {
  log('booting one guest');
  const up = JSON.parse(await box(['up', '--no-provision', '--json'])).machines[0];
  const port = up.ssh.port as number;
  const key = await ensureMachineKey(path.join(project, '.box', 'machines', 'default'));
  const target = {host: '127.0.0.1', port, username: 'vagrant'};

  /** The guest as a fresh box has it: only the insecure key, password "vagrant", sshd's defaults. */
  async function reset(): Promise<void> {
    const own = new SshCommunicator({...target, privateKey: key.privateKey});
    const script = `printf '%s\\n' '${INSECURE_PUBLIC_KEY}' > ~/.ssh/authorized_keys && sudo -n sh -c 'echo vagrant:vagrant | chpasswd && rm -f /etc/ssh/sshd_config.d/01-box-no-passwords.conf && systemctl restart ssh'`;
    try {
      await own.waitForReady(60_000, never);
      if (await own.exec(script) !== 0) throw new Error('could not reset the guest');
    } finally {
      await own.close();
    }
  }

  // Counted, not assumed: SSH commands and connections each swap makes.
  const counts = {exec: 0, connect: 0};
  const proto = SshCommunicator.prototype as unknown as {exec: (...a: unknown[]) => Promise<number>; open: (...a: unknown[]) => Promise<unknown>};
  const {exec, open} = proto;
  proto.exec = function (this: unknown, ...a: unknown[]) { counts.exec++; return exec.apply(this, a); };
  proto.open = function (this: unknown, ...a: unknown[]) { counts.connect++; return open.apply(this, a); };
  const rounds: Record<string, {exec: number; connect: number}> = {};

  async function swap(withLock: boolean): Promise<number> {
    await reset();
    counts.exec = 0;
    counts.connect = 0;
    const t0 = performance.now();
    const insecure = new SshCommunicator({...target, privateKey: INSECURE_PRIVATE_KEY});
    try {
      await insecure.waitForReady(60_000, never);
      await replaceInsecureKey(insecure, key, withLock ? {thenRun: {script: lockPasswordLoginsScript(), what: 'lock password logins'}} : {});
    } finally {
      await insecure.close();
    }
    const ms = Math.round(performance.now() - t0);
    rounds[withLock ? 'with_lock' : 'without_lock'] = {...counts};
    return ms;
  }

  const without: number[] = [];
  const withLock: number[] = [];
  for (let i = 0; i < runs; i++) {
    without.push(await swap(false));
    withLock.push(await swap(true));
    log(`run ${i + 1}/${runs}: key swap ${without.at(-1)} ms, with the password lock ${withLock.at(-1)} ms`);
  }
  console.log(JSON.stringify({
    key_swap_median_ms: median(without),
    key_swap_with_password_lock_median_ms: median(withLock),
    password_lock_cost_median_ms: median(withLock) - median(without),
    key_swap_samples_ms: without,
    key_swap_with_password_lock_samples_ms: withLock,
    ssh_commands_and_connections_per_swap: rounds,
    runs,
  }, null, 2));
});
