import {UsageError} from '../../core/errors.js';
import {readMachineState} from '../../core/state.js';
import {machineStatus, openMachines, type LifecycleOptions, type MachineHandle} from './machines.js';

/** `box up NAME --from MACHINE[@SNAPSHOT]`, parsed. */
export interface CloneRequest {
  name: string;
  machine: string;
  snapshot?: string;
}

/** Checks the shape of `--from` before anything loads: one new machine, a source, an optional snapshot name. */
export function parseCloneFrom(from: string, names: string[]): CloneRequest {
  const [machine, ...rest] = from.split('@');
  const snapshot = rest.length > 0 ? rest.join('@') : undefined;
  if (!machine || snapshot === '') {
    throw new UsageError('ERR_USAGE', `--from ${JSON.stringify(from)} is not MACHINE or MACHINE@SNAPSHOT.`, {hint: 'Example: box up web2 --from web@before-upgrade'});
  }
  if (names.length !== 1) {
    throw new UsageError('ERR_USAGE', `--from makes one new machine; name exactly one (got ${names.length === 0 ? 'none' : names.join(', ')}).`, {hint: `Example: box up ${machine}-copy --from ${from}`});
  }
  if (names[0] === machine) throw new UsageError('ERR_USAGE', `A machine cannot be cloned onto itself (${machine}).`, {hint: `Give the clone a new name: box up ${machine}-copy --from ${from}`});
  return {name: names[0]!, machine, ...(snapshot === undefined ? {} : {snapshot})};
}

/**
 * Points the new machine's up at its source (`ctx.cloneFrom`), after the checks that need the
 * project: the target can clone, the new name is not a machine yet, the source exists and is
 * halted (a running disk is inconsistent) unless a snapshot is named. Nothing is made here.
 */
export async function attachCloneSource(handle: MachineHandle, request: CloneRequest, options: LifecycleOptions): Promise<void> {
  const {machine, provider, ctx} = handle;
  if (!provider.clones) {
    throw new UsageError('ERR_NOT_SUPPORTED', `--from (cloning a machine) is not supported yet on ${machine.target}.`, {hint: 'box clones qemu, virtualbox and aws machines; create this one from its basebox without --from.'});
  }
  if (await readMachineState(ctx.project.root, machine.name)) {
    throw new UsageError('ERR_CLONE_EXISTS', `Machine ${machine.name} already exists; --from only makes new machines.`, {hint: `Run \`box destroy ${machine.name}\` first, or give the clone another name.`});
  }
  const {handles: [source]} = await openMachines({...options, names: [request.machine], clones: {[request.name]: request.machine}});
  if (source!.machine.target !== machine.target) {
    throw new UsageError('ERR_NOT_SUPPORTED', `${request.machine} is on the ${source!.machine.target} target and ${machine.name} on ${machine.target}: --from is not supported yet across targets.`);
  }
  const status = await machineStatus(source!);
  if (status.status === 'not-created') throw new UsageError('ERR_CLONE_SOURCE', `Machine ${request.machine} is not created: there is no disk to clone.`, {hint: `Run \`box up ${request.machine}\` first.`});
  if (status.status === 'broken') throw new UsageError('ERR_CLONE_SOURCE', `Machine ${request.machine} is broken (${status.reason}); it cannot be cloned.`, {hint: status.repair ? `Run \`${status.repair}\` first.` : undefined});
  if (status.status === 'running' && request.snapshot === undefined) {
    throw new UsageError('ERR_CLONE_SOURCE_RUNNING', `Machine ${request.machine} is running: its disk changes under the copy.`, {
      hint: `Run \`box halt ${request.machine}\` first, or clone one of its snapshots: --from ${request.machine}@SNAPSHOT.`,
    });
  }
  if (status.status === 'suspended' && request.snapshot === undefined) {
    throw new UsageError('ERR_CLONE_SOURCE_RUNNING', `Machine ${request.machine} is suspended: its disk is that of a running guest whose writes are still in its saved memory.`, {
      hint: `Run \`box resume ${request.machine}\` and \`box halt ${request.machine}\` first, or clone one of its snapshots: --from ${request.machine}@SNAPSHOT.`,
    });
  }
  ctx.cloneFrom = {machine: request.machine, dir: source!.ctx.dir, ...(request.snapshot === undefined ? {} : {snapshot: request.snapshot})};
}
