import {runGuestScript} from '../../communicators/run-script.js';
import {errorMessage} from '../../core/errors.js';
import {readMachineState} from '../../core/state.js';
import type {Ui} from '../../core/ui.js';
import {hostsBlockScript} from '../../providers/shared/private-network-scripts.js';
import {openCommunicator, type MachineHandle} from './machines.js';

/** A machine's address on the project's private network, as its last up recorded it. */
export async function privateAddress(handle: MachineHandle): Promise<string | undefined> {
  return (await readMachineState(handle.ctx.project.root, handle.machine.name).catch(() => undefined))?.privateNetwork?.ip;
}

/**
 * After machines of the project came up or went away (up, halt, destroy): box's block of
 * /etc/hosts on every running machine on the private network (`running`, with its address)
 * names exactly those. A machine that cannot be reached is warned about (its next up writes it).
 */
export async function refreshPrivateNames(running: Array<{handle: MachineHandle; ip: string}>, ui: Ui, signal: AbortSignal): Promise<void> {
  const lines = running.map(({handle, ip}) => `${ip} ${handle.machine.name} ${handle.machine.name}.${handle.ctx.project.name}`).join('\n');
  await Promise.all(running.map(async ({handle}) => {
    try {
      const comm = await openCommunicator(handle);
      try {
        const code = await runGuestScript(comm, {inline: hostsBlockScript}, {privileged: true, args: [lines, '/etc/hosts'], signal});
        if (code !== 0) throw new Error(`exit ${code}`);
      } finally {
        await comm.close().catch(() => undefined);
      }
    } catch (error) {
      if (signal.aborted) throw error;
      ui.warn(`${handle.machine.name}: could not update the private network's names in /etc/hosts (${errorMessage(error)}); its next \`box up\` does.`);
    }
  }));
}
