import path from 'node:path';
import {BoxError, InterruptedError} from '../../../core/errors.js';
import type {Step} from '../../../core/steps.js';
import {runGuestScript} from '../../../communicators/run-script.js';
import {SshCommunicator} from '../../../communicators/ssh/ssh-communicator.js';
import {insecureKeyPath} from '../../../communicators/keys.js';
import {waitForSshBanner} from '../../../providers/qemu/wait-for-ssh.js';
import {waitForExit} from '../../../core/processes.js';
import {resolveTemplateFile} from '../../templates-dir.js';
import {durationMs, type LoadedTemplate} from '../../template.js';
import type {BuildState} from '../index.js';
import {iso, reachVmLines} from './state.js';
import {detachVm} from './vm.js';
import {settleOnError} from '../../on-error.js';
import {runTemplateProvisioners, templateProvisioners} from '../../build-provisioners.js';

async function keyPath(template: LoadedTemplate): Promise<string> {
  const key = template.definition.ssh.private_key;
  if (!key || key === 'vagrant-insecure') return insecureKeyPath();
  return path.resolve(template.dir, key);
}

async function communicator(state: BuildState): Promise<SshCommunicator> {
  const d = iso(state);
  const t = state.template.definition;
  // The installer's own sshd may answer before the installed system (and its user) exists:
  // a rejected key is tried again until the SSH timeout.
  return SshCommunicator.fromSshInfo({host: '127.0.0.1', port: d.sshPort!, username: t.ssh.username, privateKeyPath: await keyPath(state.template)}, {retryRejectedKey: true});
}

/** Step: waits for the installed system's SSH server (the installer reboots into it). */
export const waitForSshStep: Step<BuildState> = {
  name: 'wait-for-ssh',
  async run(state, signal) {
    const d = iso(state);
    const timeoutMs = durationMs(state.template.definition.ssh.timeout);
    const started = Date.now();
    await waitForSshBanner({port: d.sshPort!, timeoutMs, signal, pid: d.qemuPid, serialLog: d.serialLog!});
    const comm = await communicator(state);
    try {
      await comm.waitForReady(Math.max(30_000, timeoutMs - (Date.now() - started)), signal);
    } finally {
      await comm.close();
    }
  },
};

/**
 * ONE SSH connection for everything after the guest is up: post-install scripts, kernel
 * copy-out and the shutdown command. The shared cleanup script deletes the SSH host keys (so
 * clones get fresh ones at first boot), after which sshd accepts no NEW connection; an open
 * one keeps working.
 */
export async function session(state: BuildState): Promise<SshCommunicator> {
  const holder = state.data as {boxSsh?: SshCommunicator};
  if (holder.boxSsh) return holder.boxSsh;
  holder.boxSsh = await communicator(state);
  return holder.boxSsh;
}

export async function closeSession(state: BuildState): Promise<void> {
  const holder = state.data as {boxSsh?: SshCommunicator};
  const comm = holder.boxSsh;
  holder.boxSsh = undefined;
  await comm?.close().catch(() => undefined);
}

/** Step: uploads and runs each post-install script (sudo unless privileged: false), streaming its output. */
export const postInstallStep: Step<BuildState> = {
  name: 'post-install',
  async run(state, signal) {
    const comm = await session(state);
    await comm.connect(undefined, signal); // opened now, while the host keys still exist
    for (const [i, p] of state.template.definition.post_install.entries()) {
      if (signal.aborted) throw new InterruptedError();
      const label = p.script ?? `inline #${i + 1}`;
      state.ui.stage('post-install', label);
      // The shell provisioner's runner: Ctrl-C stops the script's whole process group in the guest.
      const code = await runGuestScript(comm, p.script ? {file: resolveTemplateFile(state.template.dir, p.script)} : {text: `#!/bin/sh\nset -e\n${p.inline!.join('\n')}\n`}, {
        privileged: p.privileged, env: p.env, signal, prefix: 'box-post',
        onOutput: (_s, data) => state.ui.output(`[${path.basename(label)}]`, data),
      });
      if (code !== 0) throw new BoxError('ERR_POST_INSTALL', `Post-install script ${label} exited with ${code}.`, {hint: 'Its output is above; run with --on-error abort to keep the VM and ssh in.'});
    }
  },
  async cleanup(state) {
    await closeSession(state);
  },
};

/**
 * Step: runs the template's `provisioners:` (the Boxfile's runners) after the post-install
 * scripts, on the same open connection for the in-guest ones; host-side ansible connects on its
 * own, so it needs the guest's host keys (keep `_scripts/cleanup.sh` for a last shell provisioner).
 */
export const provisionersStep: Step<BuildState> = {
  name: 'provision',
  async run(state, signal) {
    if (templateProvisioners(state.template).length === 0) return;
    const comm = await session(state);
    await comm.connect(undefined, signal);
    const ssh = {host: '127.0.0.1', port: iso(state).sshPort!, username: state.template.definition.ssh.username, privateKeyPath: await keyPath(state.template)};
    await runTemplateProvisioners(state.template, {comm, ssh, ui: state.ui, signal});
  },
  async cleanup(state) {
    await closeSession(state);
  },
};

/**
 * Step: runs shutdown_command on the open connection and waits for QEMU to exit; if it does not
 * within shutdown_timeout, presses the ACPI power button over QMP; kills nothing itself (the
 * boot step's cleanup stops a VM that still runs).
 */
export const shutdownStep: Step<BuildState> = {
  name: 'shutdown',
  async run(state, signal) {
    const d = iso(state);
    const t = state.template.definition;
    const comm = await session(state);
    // The connection drops as the guest goes down: the exit status does not matter.
    await comm.exec(t.shutdown_command, {signal, timeoutMs: 30_000}).catch(() => undefined);
    await closeSession(state);
    const timeoutMs = durationMs(t.shutdown_timeout);
    if (await waitForExit(d.qemuPid!, timeoutMs)) return;
    if (signal.aborted) throw new InterruptedError();
    state.ui.warn(`the guest did not power off within ${Math.round(timeoutMs / 1000)} s of "${t.shutdown_command}"; pressing the ACPI power button`);
    await d.qmp?.execute('system_powerdown').catch(() => undefined);
    if (!(await waitForExit(d.qemuPid!, 60_000))) {
      throw new BoxError('ERR_SHUTDOWN_TIMEOUT', 'The build VM did not power off.', {hint: 'Check shutdown_command in the template (it must power the guest off, not halt it).'});
    }
  },
};

/**
 * With --on-error abort, a step that fails while the VM runs leaves it running and says how to
 * reach it (the runner then skips every cleanup, so QEMU and the HTTP server stay up).
 */
export function keepVmOnAbort(step: Step<BuildState>): Step<BuildState> {
  return {
    ...step,
    async run(state, signal) {
      try {
        await step.run(state, signal);
      } catch (error) {
        const d = iso(state);
        if (!signal.aborted) await settleOnError(state, step.name, error);
        if (state.onError === 'abort' && !signal.aborted && d.qemu) {
          const user = state.template.definition.ssh.username;
          state.ui.warn(`build VM kept for debugging (stop it with: kill ${d.qemuPid}; then remove ${state.workDir}):\n  ${reachVmLines(d).join('\n  ')}\n  ssh -p ${d.sshPort} ${user}@127.0.0.1 (key: the template's ssh.private_key, else Vagrant's insecure key)`);
          await closeSession(state);
          await detachVm(d);
        }
        throw error;
      }
    },
  };
}
