import {randomBytes} from 'node:crypto';
import {existsSync} from 'node:fs';
import {mkdir, readdir, rm} from 'node:fs/promises';
import path from 'node:path';
import {BoxError, throwIfAborted} from '../../core/errors.js';
import {machineFiles} from '../../core/paths.js';
import {indexMachine, isStateCorrupt, readMachineState, unindexMachine, updateMachineState, writeMachineState, type MachineState} from '../../core/state.js';
import type {Step} from '../../core/steps.js';
import {resolveBasebox} from '../../boxes/resolve.js';
import type {MachineContext, PackagedMachine, PackageMachineOptions, Provider, SnapshotSupport, SshInfo, StatusReport, StoppedBy, SuspendOutcome} from '../provider.js';
import {tailFile} from '../../core/tail-file.js';
import {insertMachineKey} from '../shared/guest-ssh.js';
import {cloneFirstLoginKey, giveCloneItsIdentity} from '../shared/clone-guest.js';
import {removeMachineFiles, runCreateSteps} from '../shared/machine-files.js';
import {checkForwardedPorts, freePort, portIsFree, type PortForward} from '../shared/ports.js';
import {waitForGuestSsh} from '../shared/wait-for-ssh.js';
import {configurePrivateNetwork, planPrivateAddress, type ConnectGuest, type PrivateAddress} from '../shared/private-network.js';
import {createCommunicator} from '../../communicators/ssh/connect.js';
import {configureArgs, importArgs, linkedCloneArgs, natRules, privateNicArgs, SEED_CONTROLLER, seedDvdArgs, startArgs} from './args.js';
import {refreshCloudInitSeed} from '../shared/cloud-init-seed.js';
import {internalNetworkName} from './private-network.js';
import {ensureMaster, MASTER_SNAPSHOT} from './master.js';
import {cloneSourceVm, prepareVboxClone, type VboxCloneRecord} from './clone.js';
import {readVboxState, recordVbox, type VirtualboxMachineState} from './machine-state.js';
import {virtualboxSnapshots} from './snapshots.js';
import {reconcileVbox, STOPPED_STATES} from './reconcile.js';
import {VBoxManage} from './vboxmanage.js';

/** How often halt and destroy ask VirtualBox whether the VM is down. */
const POLL_MS = 500;

/** A new machine's VM name: project and machine for humans, a random tail so leftovers never clash. */
export function vmNameFor(project: string, machine: string): string {
  return `box-${project}-${machine}-${randomBytes(3).toString('hex')}`.replace(/[^A-Za-z0-9._-]+/g, '-');
}

/** The `.ovf` of a VirtualBox box (Vagrant's are `box.ovf`; some exports use another name). */
async function findOvf(boxDir: string): Promise<string | undefined> {
  if (existsSync(path.join(boxDir, 'box.ovf'))) return path.join(boxDir, 'box.ovf');
  const ovf = (await readdir(boxDir).catch(() => [] as string[])).filter((f) => f.endsWith('.ovf')).sort()[0];
  return ovf ? path.join(boxDir, ovf) : undefined;
}

/** The private-network stage line. */
function privateNetworkDetail(ctx: MachineContext, nic: PrivateAddress): string {
  return `${nic.ip}/24 on the interface with MAC ${nic.mac} (internal network ${internalNetworkName(ctx.project.root)})`;
}

export class VirtualboxProvider implements Provider {
  readonly name = 'virtualbox' as const;
  /** `box up NEW --from MACHINE[@SNAPSHOT]`: a full clone of the source's VM (clone.ts). */
  readonly clones = true;

  /** `connect`: how box reaches a guest over SSH to configure its private network (a test passes its fake). */
  constructor(private readonly vbox = new VBoxManage(), private readonly connect: ConnectGuest = createCommunicator) {}

  /** `box snapshot`: VBoxManage snapshot take|restore|delete (snapshots.ts). */
  get snapshots(): SnapshotSupport {
    return virtualboxSnapshots(this, this.vbox);
  }

  /** `box package`: the VM exported as a Vagrant virtualbox box, after its guest is made a base box again (package.ts). */
  async package(ctx: MachineContext, options: PackageMachineOptions): Promise<PackagedMachine> {
    const {packageVirtualboxMachine} = await import('./package.js');
    return packageVirtualboxMachine(this, this.vbox, ctx, options);
  }

  /** VBoxManage runs (ERR_VBOX_MISSING with an install hint otherwise, or its own error). */
  async verify(): Promise<void> {
    await this.vbox.version();
  }

  async up(ctx: MachineContext): Promise<{created: boolean; resumed?: boolean; timings: Record<string, number>}> {
    const timings: Record<string, number> = {};
    const recorded = await readVboxState(ctx.project.root, ctx.machine.name);
    if (!recorded) {
      await this.create(ctx, await this.checkPorts(ctx), timings);
      return {created: true, timings};
    }
    const vm = recorded.uuid ? await this.vbox.vmInfo(recorded.uuid, ctx.signal) ?? await this.vbox.vmInfo(recorded.vmName, ctx.signal) : undefined;
    if (recorded.phase !== 'created' || !vm) {
      const report = reconcileVbox(ctx.machine.name, recorded, vm);
      throw new BoxError('ERR_MACHINE_BROKEN', `Machine ${ctx.machine.name} is broken: ${report.reason}.`, {hint: `Run \`${report.repair}\`, then \`box up ${ctx.machine.name}\`.`});
    }
    if (vm.state === 'running') {
      // Every up that finds the insecure key still in place replaces it (an up killed during
      // the first boot leaves a running guest that Vagrant's public key opens).
      if (this.keyPending(ctx, recorded) && recorded.sshPort !== undefined) {
        ctx.ui.info(`${ctx.machine.name} is running, but its insecure key was never replaced; replacing it now.`);
        await this.readyGuest(ctx, recorded, Date.now(), () => undefined);
      } else {
        ctx.ui.info(`${ctx.machine.name} is already running.`);
      }
      return {created: false, timings};
    }
    if (!STOPPED_STATES.has(vm.state)) {
      throw new BoxError('ERR_MACHINE_BROKEN', `Machine ${ctx.machine.name} cannot start: VirtualBox reports its VM ${recorded.vmName} as "${vm.state}".`, {hint: `Run \`box halt --force ${ctx.machine.name}\`, then \`box up ${ctx.machine.name}\`.`});
    }
    // Same VM, same disk: rules and sizes are set again (the Boxfile may have changed since).
    const nic = await this.boot(ctx, await this.checkPorts(ctx), timings, vm.state === 'saved');
    if (nic) {
      ctx.ui.stage('private-network', privateNetworkDetail(ctx, nic));
      await this.configurePrivateNetwork(ctx, nic, timings);
    }
    return {created: false, ...(vm.state === 'saved' ? {resumed: true} : {}), timings};
  }

  /** Port collisions fail before anything is created or booted (the shared qemu rules). */
  private async checkPorts(ctx: MachineContext): Promise<PortForward[]> {
    const {project, machine} = ctx;
    const toForward = (m: typeof machine): PortForward[] => m.forwardedPorts.map((p) => ({protocol: p.protocol, hostIp: p.hostIp, host: p.host, guest: p.guest}));
    const others = project.machines.filter((m) => m.name !== machine.name && m.target === 'virtualbox').map((m) => ({machine: m.name, forwardedPorts: toForward(m)}));
    const forwards = toForward(machine);
    await checkForwardedPorts(project.boxfilePath, {machine: machine.name, forwardedPorts: forwards}, others);
    return forwards;
  }

  /**
   * A new machine, as steps whose cleanups leave nothing registered after a failure or Ctrl-C:
   * imported from the box (or a linked clone of its master), or a full clone of another
   * machine's VM (`--from`), which keeps the source's box.
   */
  private async create(ctx: MachineContext, forwards: PortForward[], timings: Record<string, number>): Promise<void> {
    const {project, machine, dir, ui, signal} = ctx;
    const settings = machine.virtualbox;
    const from = ctx.cloneFrom;
    let box: NonNullable<MachineState['box']>;
    let ovf: string;
    let clone: VboxCloneRecord | undefined;
    let sourceTarget = '';
    await mkdir(dir, {recursive: true});
    if (from) {
      ui.stage('clone-from', `${from.machine}${from.snapshot === undefined ? '' : `@${from.snapshot}`}`);
      const source = await prepareVboxClone(this.vbox, project.root, dir, from, signal);
      ({clone} = source);
      box = source.state.box!;
      ovf = source.s.ovf;
      sourceTarget = source.s.uuid ?? source.s.vmName;
    } else {
      ui.stage('resolve-box', machine.basebox?.raw ?? '');
      box = await resolveBasebox(machine.basebox, {provider: 'virtualbox', ui, signal});
      const found = await findOvf(box.dir);
      if (!found) {
        throw new BoxError('ERR_BOX_INVALID', `Box ${box.name} ${box.version} (virtualbox) has no .ovf file in ${box.dir}.`, {hint: `Reinstall it: \`box box remove ${box.name}\` then \`box box add ...\`.`});
      }
      ovf = found;
    }
    const linked = settings.linkedClone && !from;
    const initial: VirtualboxMachineState = {
      phase: 'creating',
      vmName: vmNameFor(project.name, machine.name),
      ovf,
      linkedClone: linked,
      serialLog: path.join(dir, machineFiles.serialLog),
      forwardedPorts: forwards,
      keyInserted: false,
      ...(clone ? {clone} : {}),
    };
    // Recorded BEFORE VirtualBox is asked for anything, so `destroy` after a crash finds the VM by name.
    await writeMachineState(project.root, {
      machine: machine.name, target: 'virtualbox', createdAt: new Date().toISOString(),
      box: {name: box.name, version: box.version, provider: box.provider, dir: box.dir},
      ...(from ? {cloneOf: {machine: from.machine, ...(from.snapshot === undefined ? {} : {snapshot: from.snapshot})}} : {}),
      provisioned: false, upCompleted: false,
      provider: initial as unknown as Record<string, unknown>,
    });
    await indexMachine({project: project.name, projectRoot: project.root, machine: machine.name, target: 'virtualbox', box: {name: box.name, version: box.version, provider: box.provider}});
    const rec = (change: (s: VirtualboxMachineState) => void) => recordVbox(project.root, machine.name, change);
    const vmName = initial.vmName;

    let nic: PrivateAddress | undefined;
    const steps: Array<Step<VirtualboxMachineState>> = [
      {
        name: from || linked ? 'clone' : 'import',
        run: async () => {
          const t0 = performance.now();
          if (from) {
            ui.stage('clone', `full clone of ${from.machine}'s VM${from.snapshot === undefined ? '' : ` at snapshot ${from.snapshot}`} as ${vmName}`);
            await cloneSourceVm(this.vbox, project.root, {...from, target: sourceTarget}, vmName, signal);
          } else if (linked) {
            const master = await ensureMaster(this.vbox, box, ovf, {ui, signal});
            await rec((s) => { s.master = master; });
            ui.stage('clone', `linked clone of ${master} as ${vmName}`);
            await this.vbox.run(linkedCloneArgs(master, MASTER_SNAPSHOT, vmName), {signal});
          } else {
            ui.stage('import', `${ovf} as ${vmName}`);
            await this.vbox.run(importArgs(ovf, {vmName, cpus: settings.cpus, memoryMiB: settings.memoryMiB}), {signal});
          }
          const info = await this.vbox.vmInfo(vmName, signal);
          if (!info) throw new BoxError('ERR_VBOXMANAGE', `VBoxManage reported success but VirtualBox has no VM ${vmName}.`, {hint: 'Run `VBoxManage list vms` to see what is registered.'});
          await rec((s) => { s.uuid = info.uuid; });
          // A clone of a live snapshot got the source's running guest as saved state: it boots from the disk instead.
          if (from && info.state === 'saved') await this.vbox.run(['discardstate', vmName], {signal, retryLocked: true});
          timings[from || linked ? 'clone' : 'import'] = Math.round(performance.now() - t0);
        },
        // Whatever the failure (or Ctrl-C), the VM goes: powered off, unregistered, its files deleted.
        cleanup: async (_s, outcome) => {
          if (outcome === 'succeeded') return;
          const recorded = await readVboxState(project.root, machine.name);
          await this.removeVm(vmName, recorded?.uuid);
          if (recorded?.cloudInitSeed) await this.closeSeed(recorded.cloudInitSeed);
        },
      },
      {
        name: 'boot',
        run: async () => {
          await rec((s) => { s.phase = 'created'; });
          nic = await this.boot(ctx, forwards, timings, false);
        },
      },
    ];
    if (machine.networks.length > 0) {
      steps.push({name: 'private-network', detail: () => privateNetworkDetail(ctx, nic!), run: async () => this.configurePrivateNetwork(ctx, nic!, timings)});
    }
    await runCreateSteps(ctx, steps, initial, `the VirtualBox VM ${vmName}`);
  }

  /**
   * Configure (VM powered off) → startvm → wait for the SSH banner → replace the insecure key on
   * first boot. A saved VM resumes its saved state and cannot be reconfigured, so its rules and
   * NICs stay. Returns the machine's private network address, when it has one.
   */
  private async boot(ctx: MachineContext, forwards: PortForward[], timings: Record<string, number>, saved: boolean): Promise<PrivateAddress | undefined> {
    const {project, machine, ui, signal} = ctx;
    const nic = await planPrivateAddress(project, machine);
    let s = (await readVboxState(project.root, machine.name))!;
    const target = s.uuid ?? s.vmName;
    let mark = performance.now();
    const lap = (name: string) => { const now = performance.now(); timings[name] = Math.round(now - mark); mark = now; };
    if (!saved) {
      // Keep the recorded SSH port across boots while it is free (stable ssh-config output).
      const sshPort = s.sshPort !== undefined && await portIsFree('tcp', '127.0.0.1', s.sshPort) ? s.sshPort : await freePort();
      const info = await this.vbox.vmInfo(target, signal);
      const calls = configureArgs(target, {
        cpus: machine.virtualbox.cpus,
        memoryMiB: machine.virtualbox.memoryMiB,
        deleteRules: info?.forwards.map((r) => r.name) ?? [],
        rules: natRules(sshPort, machine.ssh.port, forwards),
        serialLog: s.serialLog,
      });
      // NIC 2 on the project's internal network, with NIC 1's adapter type; a NIC 2 box put
      // there for a network the Boxfile no longer declares is removed.
      if (nic) calls.push(privateNicArgs(target, {network: internalNetworkName(project.root), mac: nic.mac, nicType: info?.raw.get('nictype1')}));
      else if ((info?.raw.get('nic2') ?? 'none') !== 'none') calls.push(privateNicArgs(target, undefined));
      const seed = await this.writeSeed(ctx, s);
      const seedController = [...(info?.raw ?? new Map<string, string>())].some(([key, value]) => key.startsWith('storagecontrollername') && value === SEED_CONTROLLER);
      calls.push(...seedDvdArgs(target, seed, seedController));
      ui.stage('configure', `${machine.virtualbox.cpus} cpu, ${machine.virtualbox.memoryMiB} MiB, ssh 127.0.0.1:${sshPort}`);
      for (const args of calls) await this.vbox.run(args, {signal, retryLocked: true});
      s = await recordVbox(project.root, machine.name, (st) => { st.sshPort = sshPort; st.forwardedPorts = forwards; });
      lap('configure');
    }
    throwIfAborted(signal);
    await rm(s.serialLog, {force: true});
    ui.stage('boot', `${s.vmName} (${machine.virtualbox.gui ? 'gui' : 'headless'})`);
    await this.vbox.run(startArgs(target, machine.virtualbox.gui), {signal});
    await recordVbox(project.root, machine.name, (st) => { st.startedAt = new Date().toISOString(); });
    lap('startVm');

    ui.stage('wait-for-ssh', `127.0.0.1:${s.sshPort}`);
    const t0 = Date.now();
    await waitForGuestSsh({
      port: s.sshPort!, timeoutMs: machine.ssh.timeoutSeconds * 1000, signal, serialLog: s.serialLog,
      vmGone: async () => {
        // A showvminfo that fails (a busy VBoxSVC) says nothing about the VM: keep waiting.
        let vm: Awaited<ReturnType<VBoxManage['vmInfo']>>;
        try {
          vm = await this.vbox.vmInfo(target);
        } catch {
          return undefined;
        }
        if (vm?.state === 'running' || vm?.state === 'starting') return undefined;
        const tail = await tailFile(s.serialLog);
        return new BoxError('ERR_VBOX_VM_STOPPED', `The VirtualBox VM ${s.vmName} stopped while the guest was booting (VMState ${vm?.state ?? 'gone'}).${tail ? ` Last lines of ${s.serialLog}:\n${tail}` : ''}`, {
          hint: 'Look at the VM in the VirtualBox GUI (or its VBox.log under the VM folder) and at the box\'s memory/cpus in the Boxfile.',
          details: {serialLog: s.serialLog},
        });
      },
    });
    lap('waitForSsh');
    await this.readyGuest(ctx, s, t0, lap);
    return nic;
  }

  /**
   * The NoCloud seed ISO of the machine's cloud-init data, made again before every boot (so an
   * edited user_data is on the DVD) under one instance-id per machine; with no data, a seed of
   * an earlier boot is removed. Recorded, so destroy can close the medium.
   */
  private async writeSeed(ctx: MachineContext, s: VirtualboxMachineState): Promise<string | undefined> {
    const {project, machine, dir} = ctx;
    return refreshCloudInitSeed(machine, dir, s, async (change) => { await recordVbox(project.root, machine.name, change); }, (seed) => this.closeSeed(seed));
  }

  /** Forgets the seed ISO in VirtualBox's media registry (once detached); one it never knew is fine. */
  private async closeSeed(iso: string): Promise<void> {
    await this.vbox.run(['closemedium', 'dvd', iso]).catch(() => undefined);
  }

  /** After SSH: the guest's NIC 2 gets its address for good and /etc/hosts the running machines' names (shared with qemu). */
  private async configurePrivateNetwork(ctx: MachineContext, nic: PrivateAddress, timings: Record<string, number>): Promise<void> {
    const t0 = performance.now();
    await configurePrivateNetwork(ctx, this, nic, this.connect);
    timings.privateNetwork = Math.round(performance.now() - t0);
  }

  /** The insecure key is still to be replaced (not recorded as done, and the Boxfile wants it done). */
  private keyPending(ctx: MachineContext, s: VirtualboxMachineState): boolean {
    return !s.keyInserted && ctx.machine.ssh.insertKey && !ctx.machine.ssh.privateKeyPath;
  }

  /** Until recorded: swaps the insecure key, ends password logins and sets the host name, in one round. */
  private async readyGuest(ctx: MachineContext, s: VirtualboxMachineState, t0: number, lap: (name: string) => void): Promise<void> {
    const {project, machine, dir, ui, signal} = ctx;
    if (!this.keyPending(ctx, s)) return;
    ui.stage('insert-key', 'replacing the insecure key with a per-machine key, ending password logins');
    const remaining = Math.max(10_000, machine.ssh.timeoutSeconds * 1000 - (Date.now() - t0));
    const recordedHostname = (await readMachineState(project.root, machine.name))?.hostname;
    const hostname = machine.hostname !== undefined && machine.hostname !== recordedHostname ? machine.hostname : undefined;
    // A clone's guest trusts its source's key (or the insecure one, if its disk state predates the swap).
    const firstLoginKey = s.clone ? await cloneFirstLoginKey({port: s.sshPort!, username: machine.ssh.username}, s.clone, undefined, remaining, signal) : undefined;
    await insertMachineKey({dir, port: s.sshPort!, username: machine.ssh.username, timeoutMs: remaining, signal, hostname, firstLoginKey});
    if (s.clone) await giveCloneItsIdentity({port: s.sshPort!, username: machine.ssh.username, privateKeyPath: path.join(dir, machineFiles.privateKey)}, machine.name, remaining, signal);
    await updateMachineState(project.root, machine.name, (st) => {
      (st.provider as unknown as VirtualboxMachineState).keyInserted = true;
      if (hostname !== undefined) st.hostname = hostname;
    });
    lap('insertKey');
  }

  /**
   * ACPI power button, polled until VirtualBox says `poweroff`; after the timeout (or at once
   * with --force) `controlvm poweroff`, which pulls the plug.
   */
  async halt(ctx: MachineContext, options: {force: boolean; timeoutSeconds: number}): Promise<StoppedBy | void> {
    const s = await readVboxState(ctx.project.root, ctx.machine.name);
    if (!s) return;
    const target = s.uuid ?? s.vmName;
    const vm = await this.vbox.vmInfo(target);
    // --force on a suspended (saved) VM discards its saved state, as on the qemu target.
    if (vm?.state === 'saved' && options.force) await this.vbox.run(['discardstate', target], {retryLocked: true});
    if (!vm || STOPPED_STATES.has(vm.state)) return;
    if (!options.force && vm.state === 'running') {
      await this.vbox.run(['controlvm', target, 'acpipowerbutton']);
      if (await this.waitForState(target, (st) => st === undefined || STOPPED_STATES.has(st), options.timeoutSeconds * 1000)) return 'acpi';
      ctx.ui.warn(`${ctx.machine.name} did not shut down within ${options.timeoutSeconds} s; powering the VM off.`);
    }
    await this.powerOff(target);
    return 'kill';
  }

  /** `box suspend`: VirtualBox saves the VM's state itself; `up` (startvm) restores it. */
  async suspend(ctx: MachineContext): Promise<SuspendOutcome> {
    const t0 = Date.now();
    const s = await readVboxState(ctx.project.root, ctx.machine.name);
    const target = s && (s.uuid ?? s.vmName);
    const vm = target ? await this.vbox.vmInfo(target, ctx.signal) : undefined;
    if (!target || vm?.state !== 'running') {
      throw new BoxError('ERR_NOT_RUNNING', `${ctx.machine.name} is not running${vm ? ` (VirtualBox reports "${vm.state}")` : ''}; only a running machine can be suspended.`, {hint: `Run \`box up ${ctx.machine.name}\` first.`});
    }
    ctx.ui.stage('save-state', `${s!.vmName} (VBoxManage controlvm savestate)`);
    // Not cancellable half-way: VirtualBox either saves the whole state or leaves the VM running.
    await this.vbox.run(['controlvm', target, 'savestate'], {retryLocked: true});
    if (!(await this.waitForState(target, (st) => st === 'saved', 60_000))) {
      throw new BoxError('ERR_SUSPEND_FAILED', `VirtualBox did not report ${s!.vmName} as saved within 60 s.`, {hint: `See \`VBoxManage showvminfo ${s!.vmName}\`; \`box status\` shows where it is.`});
    }
    return {method: 'savestate', timings: {total: Date.now() - t0}};
  }

  private async powerOff(target: string): Promise<void> {
    try {
      await this.vbox.run(['controlvm', target, 'poweroff']);
    } catch (error) {
      // It went down by itself between our look and the call: that is what we wanted.
      const now = await this.vbox.vmInfo(target).catch(() => undefined);
      if (now && !STOPPED_STATES.has(now.state)) throw error;
    }
    await this.waitForState(target, (st) => st === undefined || STOPPED_STATES.has(st), 30_000);
  }

  /** Polls `showvminfo` until `done(VMState)` (undefined once the VM is gone); false on timeout. */
  private async waitForState(target: string, done: (state: string | undefined) => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const vm = await this.vbox.vmInfo(target).catch(() => undefined);
      if (done(vm?.state)) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  /** Powers off (if needed) and unregisters with `--delete`; a VM VirtualBox does not know is fine. */
  private async removeVm(vmName: string, uuid?: string): Promise<void> {
    const target = uuid && await this.vbox.vmInfo(uuid).catch(() => undefined) ? uuid : vmName;
    const vm = await this.vbox.vmInfo(target);
    if (!vm) return;
    if (!STOPPED_STATES.has(vm.state)) await this.powerOff(target);
    await this.vbox.run(['unregistervm', target, '--delete'], {retryLocked: true});
  }

  async destroy(ctx: MachineContext): Promise<void> {
    const {project, machine, dir, ui} = ctx;
    let s: VirtualboxMachineState | undefined;
    try {
      s = await readVboxState(project.root, machine.name);
    } catch (error) {
      if (!isStateCorrupt(error)) throw error;
      // Without the record box cannot tell its VM from another checkout's (the names share
      // the project/machine prefix): it names the candidates instead of deleting them.
      const prefix = vmNameFor(project.name, machine.name).slice(0, -6);
      const candidates = (await this.vbox.run(['list', 'vms']).catch(() => '')).split('\n').map((l) => /^"([^"]+)"/.exec(l)?.[1]).filter((n): n is string => n?.startsWith(prefix) ?? false);
      ui.warn(`${machine.name}: ${error.message} ${candidates.length > 0
        ? `VirtualBox VMs that may be its own: ${candidates.join(', ')}; remove the right one with \`VBoxManage unregistervm NAME --delete\`.`
        : `VirtualBox has no VM named ${prefix}*.`}`);
    }
    if (s) await this.removeVm(s.vmName, s.uuid);
    // unregistervm --delete deletes the VM's disks only: the seed DVD stays in the media registry.
    if (s?.cloudInitSeed) await this.closeSeed(s.cloudInitSeed);
    await removeMachineFiles(dir);
    await unindexMachine(project.root, machine.name);
  }

  async status(ctx: MachineContext): Promise<StatusReport> {
    const s = await readVboxState(ctx.project.root, ctx.machine.name);
    if (!s) return {status: 'not-created'};
    let vm;
    try {
      vm = await this.vbox.vmInfo(s.uuid ?? s.vmName) ?? (s.uuid ? await this.vbox.vmInfo(s.vmName) : undefined);
    } catch (error) {
      const reason = error instanceof BoxError ? error.message : String(error);
      return {status: 'broken', reason: `VirtualBox could not be asked about ${s.vmName}: ${reason}`, repair: 'box doctor', details: {vmName: s.vmName}};
    }
    return reconcileVbox(ctx.machine.name, s, vm);
  }

  async sshInfo(ctx: MachineContext): Promise<SshInfo> {
    const s = await readVboxState(ctx.project.root, ctx.machine.name);
    if (!s || s.sshPort === undefined) {
      throw new BoxError('ERR_NOT_CREATED', `Machine ${ctx.machine.name} is not created.`, {hint: `Run \`box up ${ctx.machine.name}\`.`});
    }
    const {insecureKeyPath} = await import('../../communicators/keys.js');
    const privateKeyPath = ctx.machine.ssh.privateKeyPath
      ?? (s.keyInserted ? path.join(ctx.dir, machineFiles.privateKey) : await insecureKeyPath());
    return {host: '127.0.0.1', port: s.sshPort, username: ctx.machine.ssh.username, privateKeyPath};
  }
}

export function createVirtualboxProvider(): Provider {
  return new VirtualboxProvider();
}
