// SSH communicator against a real local sshd: time to ready, exec round trip on the kept
// connection (vs. a fresh system `ssh` per command), SFTP upload of a big file (vs. scp) and of
// a folder of small files, and the fixed cost of a trivial shell provisioner.
import {execFileSync} from 'node:child_process';
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {SshCommunicator} from '../src/communicators/ssh/ssh-communicator.js';
import {silentUi} from '../src/core/ui.js';
import {shellProvisioner} from '../src/provisioners/shell.js';
import {createSshd} from '../test/fixtures/sshd/sshd.js';

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

async function timed(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const sshd = await createSshd();
const work = mkdtempSync(path.join(os.tmpdir(), 'box-bench-ssh-'));
const keyFile = path.join(work, 'id');
writeFileSync(keyFile, sshd.key.privateKey, {mode: 0o600});
const sshOpts = ['-i', keyFile, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR'];
const signal = new AbortController().signal;
const comm = new SshCommunicator({host: sshd.host, port: sshd.port, username: sshd.username, privateKey: sshd.key.privateKey});
try {
  const readyMs = await timed(() => comm.waitForReady(10_000, signal));

  const execSamples: number[] = [];
  for (let i = 0; i < 20; i++) execSamples.push(await timed(() => comm.exec('true')));
  const sshSamples: number[] = [];
  for (let i = 0; i < 5; i++) sshSamples.push(await timed(() => execFileSync('ssh', [...sshOpts, '-p', String(sshd.port), `${sshd.username}@${sshd.host}`, 'true'])));

  const big = path.join(work, 'big.bin');
  const mib = 64;
  writeFileSync(big, Buffer.alloc(mib * 1024 * 1024, 7));
  const sftpMs = await timed(() => comm.upload(big, path.join(sshd.dir, 'big.bin')));
  const scpMs = await timed(() => execFileSync('scp', [...sshOpts, '-P', String(sshd.port), big, `${sshd.username}@${sshd.host}:${path.join(sshd.dir, 'big-scp.bin')}`]));

  const tree = path.join(work, 'tree');
  const files = 300;
  for (let i = 0; i < files; i++) {
    const dir = path.join(tree, `d${i % 10}`);
    mkdirSync(dir, {recursive: true});
    writeFileSync(path.join(dir, `f${i}.txt`), `file ${i}\n`);
  }

  const treeMs = await timed(() => comm.upload(tree, path.join(sshd.dir, 'tree')));

  const ctx = {comm, ssh: {host: sshd.host, port: sshd.port, username: sshd.username, privateKeyPath: keyFile}, machine: 'bench', ui: silentUi(), signal, projectRoot: work};
  const provSamples: number[] = [];
  for (let i = 0; i < 5; i++) provSamples.push(await timed(() => shellProvisioner.provision(ctx, {type: 'shell', inline: 'true'})));

  console.log(JSON.stringify({
    wait_for_ready_ms: Math.round(readyMs),
    exec_roundtrip_median_ms: round(median(execSamples)),
    system_ssh_per_command_median_ms: round(median(sshSamples)),
    upload_64mib_sftp_mib_s: round(mib / (sftpMs / 1000)),
    upload_64mib_scp_mib_s: round(mib / (scpMs / 1000)),
    upload_folder_300_files_ms: Math.round(treeMs),
    shell_provisioner_inline_true_median_ms: round(median(provSamples)),
  }, null, 2));
} finally {
  await comm.close();
  await sshd.stop();
  rmSync(work, {recursive: true, force: true});
}
