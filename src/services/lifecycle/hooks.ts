import path from 'node:path';
import type {MachineConfig} from '../../boxfile/project.js';
import type {HookConfig, HookEvent} from '../../boxfile/schema.js';
import {runGuestScript} from '../../communicators/run-script.js';
import {BoxError, throwIfAborted} from '../../core/errors.js';
import {runStreaming} from '../../core/exec.js';
import {OutputLines} from '../../provisioners/output-lines.js';
import {machineStatus, openReadyCommunicator, type MachineHandle} from './machines.js';
import {privateAddress} from './private-names.js';
import {runMachines, settleMachines, type ConcurrencyOptions} from './run-machines.js';

/** Where configure hooks (and anything else in the guest) find the cluster map. */
export const GUEST_CLUSTER_FILE = '/var/lib/box/cluster.json';

/** One machine of the project as hooks see it. */
export interface ClusterMember {
  name: string;
  /** `<name>.<project>` */
  fqdn: string;
  target: string;
  status: string;
  roles: string[];
  /** Its address on the project's private network, when it has one. */
  address?: string;
  ssh?: {host: string; port: number};
}

/** The cluster map: every machine of the project, and what changed (for configure). */
export interface ClusterMap {
  project: string;
  event: HookEvent;
  /** The machines whose coming or going fired this configure event. */
  changed?: {up: string[]; down: string[]};
  machines: ClusterMember[];
}

function hookLabel(hook: HookConfig, index: number): string {
  const text = hook.run ?? hook.run_remote ?? '';
  return hook.name ?? `${hook.run !== undefined ? 'run' : 'run_remote'} ${JSON.stringify(text.split('\n')[0]!.slice(0, 60))}${text.length > 60 || text.includes('\n') ? '…' : ''} (#${index + 1})`;
}

/**
 * Runs a machine's hooks of one event, in order (the project's before the machine's own). Each
 * gets BOX_EVENT, BOX_MACHINE, BOX_PROJECT and the cluster map as BOX_CLUSTER_JSON; in the
 * guest the map is also written to GUEST_CLUSTER_FILE first. A hook that exits non-zero stops
 * the rest and fails with the event, the hook and its exit code.
 */
export async function runHooks(handle: MachineHandle, event: HookEvent, cluster: ClusterMap): Promise<number> {
  const hooks = handle.machine.hooks?.[event] ?? [];
  if (hooks.length === 0) return 0;
  const {ctx, machine} = handle;
  const json = JSON.stringify(cluster);
  const env = {BOX_EVENT: event, BOX_MACHINE: machine.name, BOX_PROJECT: ctx.project.name, BOX_CLUSTER_JSON: json};
  const remote = hooks.some((hook) => hook.run_remote !== undefined) ? await openReadyCommunicator(handle) : undefined;
  try {
    if (remote) {
      const written = await runGuestScript(remote, {text: `mkdir -p ${GUEST_CLUSTER_FILE.replace(/\/[^/]+$/, '')} && cat > ${GUEST_CLUSTER_FILE}.tmp <<'BOX_CLUSTER_EOF'\n${json}\nBOX_CLUSTER_EOF\nmv ${GUEST_CLUSTER_FILE}.tmp ${GUEST_CLUSTER_FILE}\n`}, {privileged: true, signal: ctx.signal, prefix: 'box-cluster'});
      if (written !== 0) throw new BoxError('ERR_HOOK_FAILED', `${machine.name}: could not write ${GUEST_CLUSTER_FILE} for the ${event} hooks (exit ${written}).`);
    }
    for (const [index, hook] of hooks.entries()) {
      throwIfAborted(ctx.signal);
      const label = hookLabel(hook, index);
      ctx.ui.stage(`hook ${event}`, `${machine.name}: ${label}`);
      const lines = new OutputLines((line) => ctx.ui.output(`${machine.name} ${event}:`, line));
      let code: number;
      try {
        code = hook.run !== undefined
          ? await runOnHost(hook.run, {cwd: path.dirname(ctx.project.boxfilePath), env, signal: ctx.signal, onOutput: (stream, data) => lines.push(stream, data)})
          : await runGuestScript(remote!, {text: `${hook.run_remote!}\n`}, {privileged: hook.privileged ?? true, env, signal: ctx.signal, prefix: 'box-hook', onOutput: (stream, data) => lines.push(stream, data)});
      } finally {
        lines.flush();
      }
      if (code !== 0) {
        const tail = lines.tail();
        throw new BoxError('ERR_HOOK_FAILED', `The ${event} hook ${label} of ${machine.name} exited with code ${code}.${tail.length > 0 ? `\nLast ${tail.length} lines of output:\n${tail.map((l) => `  ${l}`).join('\n')}` : ''}`, {
          hint: `Fix the hook under hooks.${event} in the Boxfile, then run the command again.`,
          details: {machine: machine.name, event, hook: label, exitCode: code},
        });
      }
    }
  } finally {
    await remote?.close().catch(() => undefined);
  }
  return hooks.length;
}

/** A host hook: `sh -c COMMAND` in its own process group (Ctrl-C stops it and what it started). */
async function runOnHost(command: string, options: {cwd: string; env: Record<string, string>; signal: AbortSignal; onOutput: (stream: 'stdout' | 'stderr', data: string) => void}): Promise<number> {
  return runStreaming('sh', ['-c', command], {...options, errorCode: 'ERR_HOOK_FAILED'});
}

/** The cluster map of the project's machines (`all` of them), as they are now. */
export async function clusterMap(all: MachineHandle[], event: HookEvent, changed?: {up: string[]; down: string[]}): Promise<ClusterMap> {
  const machines = await Promise.all(all.map(async (handle): Promise<ClusterMember> => {
    const {machine, ctx, provider} = handle;
    const {status} = await machineStatus(handle).catch(() => ({status: 'broken'}));
    const ssh = status === 'running' ? await provider.sshInfo(ctx).catch(() => undefined) : undefined;
    const address = await privateAddress(handle);
    return {
      name: machine.name, fqdn: `${machine.name}.${ctx.project.name}`, target: machine.target, status,
      roles: machine.roles ?? [machine.name], ...(address ? {address} : {}),
      ...(ssh ? {ssh: {host: ssh.host, port: ssh.port}} : {}),
    };
  }));
  return {project: all[0]?.ctx.project.name ?? '', event, ...(changed ? {changed} : {}), machines};
}

/** Does any machine of the project have configure hooks (else nothing needs the cluster map)? */
export function hasConfigureHooks(machines: MachineConfig[]): boolean {
  return machines.some((machine) => (machine.hooks?.configure?.length ?? 0) > 0);
}

/**
 * The configure event: machines came up or went away, so every running machine of the project
 * with configure hooks runs them with `cluster` (at once, as the command's other work).
 */
export async function configureCluster(all: MachineHandle[], cluster: ClusterMap, options: ConcurrencyOptions & {signal: AbortSignal}): Promise<void> {
  const running = new Set(cluster.machines.filter((m) => m.status === 'running').map((m) => m.name));
  const targets = all.filter((handle) => running.has(handle.machine.name) && (handle.machine.hooks?.configure?.length ?? 0) > 0);
  if (targets.length === 0) return;
  const outcomes = await runMachines(targets, {parallel: options.parallel, order: 'dependencies-first', signal: options.signal}, (handle) => runHooks(handle, 'configure', cluster));
  settleMachines(outcomes, options.signal, (count) => count);
}

/** The shutdown event of one machine, about to be halted or destroyed while it runs. */
export async function runShutdownHooks(handle: MachineHandle, cluster: () => Promise<MachineHandle[]>): Promise<void> {
  if ((handle.machine.hooks?.shutdown?.length ?? 0) === 0) return;
  await runHooks(handle, 'shutdown', await clusterMap(await cluster(), 'shutdown'));
}
