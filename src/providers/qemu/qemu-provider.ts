import {existsSync} from 'node:fs';
import {mkdir, rm, stat} from 'node:fs/promises';
import path from 'node:path';
import {BoxError, throwIfAborted} from '../../core/errors.js';
import {run, startInOwnGroup} from '../../core/exec.js';
import {machineFiles} from '../../core/paths.js';
import {qemuFiles} from './files.js';
import {refreshCloudInitSeed} from '../shared/cloud-init-seed.js';
import {runSteps, type Step, type StepOutcome} from '../../core/steps.js';
import {indexMachine, isStateCorrupt, readMachineState, unindexMachine, updateMachineState, writeMachineState, type MachineState} from '../../core/state.js';
import type {MachineContext, Provider, SshInfo, StatusReport, StoppedBy, SuspendOutcome, UpTimings} from '../provider.js';
import {bootPhases} from '../shared/boot-phases.js';
import {SerialWatch} from '../shared/serial-watch.js';
import {guestTookKey, launchFwCfg, writeFirstBootHandover} from './first-boot.js';
import {detectAccel, qemuKvmProbe, type Accel, type AccelDecision} from './accel.js';
import {hardwareOf} from '../../boxes/metadata.js';
import {buildQemuArgs, type GuestHardware, type PortForward} from './args.js';
import {createOverlay} from './qemu-img.js';
import {inspectDiskImage, type DiskImage} from '../../boxes/disk-image.js';
import {checkForwardedPorts, freePort, portIsFree} from '../shared/ports.js';
import {pidAlive, waitForExit} from '../../core/processes.js';
import {isOurQemu, machineQemuPids, qmpSocketPath, readPidFile} from './process.js';
import {qmpOnce} from './qmp.js';
import {qemuSnapshots} from './snapshots.js';
import {removeMachineFiles, runCreateSteps} from '../shared/machine-files.js';
import {withBoxSettings, type BoxSettings} from '../shared/box-settings.js';
import {readBoxVagrantfile} from '../../boxes/vagrantfile.js';
import {waitForSshBanner} from './wait-for-ssh.js';
import {planPrivateNetwork, type PlannedNic} from './private-network.js';
import {mountSharedFolders, sharedFolders, type SharedFolder} from './shared-folders.js';
import {findVirtiofsd, startVirtiofsd, stopVirtiofsds, virtiofsdLog} from './virtiofsd.js';
import {resumeFromState, suspendQemu, syncGuestClock, type SuspendedRecord} from './suspend.js';
import type {QemuCloneRecord} from './clone.js';
import type {PackagedMachine, PackageMachineOptions} from '../provider.js';

export {qmpSocketPath};

/**
 * What the qemu provider records under `state.provider` (all paths absolute). The machine's own
 * files (disk, pid file, QMP socket, serial log) are recorded for people and tools, but box
 * always uses the ones in the machine folder where the project IS (`machinePaths`): a moved or
 * copied project records another folder's files.
 */
export interface QemuMachineState {
  /** `creating` until the overlay exists: a crash before that leaves a half-created machine. */
  phase: 'creating' | 'created';
  disk: string;
  baseImage: string;
  baseFormat: string;
  pidFile: string;
  qmpSocket: string;
  serialLog: string;
  sshPort?: number;
  pid?: number;
  accel?: Accel;
  accelReason?: string;
  forwardedPorts: PortForward[];
  kernel?: {kernel: string; initrd?: string; cmdline?: string};
  /** Disk bus and NIC from the box's metadata or Vagrantfile (absent: virtio). */
  hardware?: GuestHardware;
  /** The shared synced folders of the last boot (9p, virtiofs), recorded before their virtiofsd start. */
  sharedFolders?: SharedFolder[];
  /** The virtiofsd processes of the last boot (also found by their command line). */
  virtiofsdPids?: number[];
  /** What the box's Vagrantfile sets (SSH user/port/packed key, memory, cpus...), read at creation. */
  boxSettings?: BoxSettings;
  /** True once the insecure key was replaced by the per-machine key. */
  keyInserted: boolean;
  startedAt?: string;
  /** cloud-init's instance-id of this machine (made at its first boot with cloud-init data; kept until destroy). */
  cloudInitInstanceId?: string;
  /** The NoCloud seed ISO attached at the last boot (in the machine folder; removed with it). */
  cloudInitSeed?: string;
  /** Set while the machine is suspended: its saved RAM/device state (`box suspend`; `up` resumes). */
  suspended?: SuspendedRecord;
  /** Set on a clone (`box up NEW --from MACHINE`): its own base between its overlay and the box image. */
  clone?: QemuCloneRecord;
  /** What the last boot handed over through fw_cfg while the insecure key was pending (see first-boot.ts): its nonce and host name. */
  firstBoot?: {nonce: string; hostname?: string};
}

const GiB = 1024 ** 3;

/** What one `up` carries from step to step: what it checked, and what it made (for the cleanups). */
interface QemuUpState {
  /** The machine's record as the up found or created it. */
  q: QemuMachineState;
  accel?: AccelDecision;
  forwards?: PortForward[];
  /** The box image, once this up checked it. */
  base?: DiskImage;
  /** This up created the overlay disk (so a failed first up removes it). */
  madeDisk?: boolean;
  sshPort?: number;
  /** The QEMU this up started (or found running). */
  pid?: number;
  /** When QEMU started: the SSH timeout counts from here. */
  bootedAt?: number;
  /** When box started QEMU (the boot phases count from here), and the serial console it follows meanwhile. */
  qemuStartAt?: number;
  serial?: SerialWatch;
  /** When the SSH banner came, and when the machine key was in. */
  bannerAt?: number;
  keyAt?: number;
  /** The guest said on its console, at this first boot, that it has no cloud-init. */
  noCloudInit?: boolean;
  /** The second NIC on the project's private network, when the machine has `networks`. */
  privateNic?: PlannedNic;
  /** The virtiofsd binary, when the machine has `type: virtiofs` synced folders. */
  virtiofsd?: string;
  /** This up resumes the saved state instead of booting. */
  resume?: SuspendedRecord;
}

/** The steps without their cleanups: starting an existing machine never undoes anything. */
function onlyRuns<S>(steps: Array<Step<S>>): Array<Step<S>> {
  return steps.map(({name, detail, run}) => ({name, detail, run}));
}

/** The files of the machine in `dir`. */
export function machinePaths(dir: string): {disk: string; pidFile: string; qmpSocket: string; serialLog: string} {
  return {
    disk: path.join(dir, qemuFiles.disk),
    pidFile: path.join(dir, qemuFiles.pid),
    qmpSocket: qmpSocketPath(dir),
    serialLog: path.join(dir, machineFiles.serialLog),
  };
}

export class QemuProvider implements Provider {
  readonly name = 'qemu' as const;
  /** `box snapshot`: internal qcow2 snapshots of the overlay (snapshots.ts). */
  readonly snapshots = qemuSnapshots(this);
  readonly clones = true;

  async package(ctx: MachineContext, options: PackageMachineOptions): Promise<PackagedMachine> {
    const {packageQemuMachine} = await import('./package.js');
    return packageQemuMachine(this, ctx, options);
  }

  async verify(ctx: MachineContext): Promise<void> {
    for (const tool of [ctx.machine.qemu.binary, 'qemu-img']) {
      try {
        await run(tool, ['--version'], {timeoutMs: 10_000});
      } catch {
        throw new BoxError('ERR_QEMU_MISSING', `${tool} is not installed or does not run.`, {
          hint: 'Install QEMU (Debian/Ubuntu: `apt-get install qemu-system-x86 qemu-utils`), or set `targets.qemu.binary` in the Boxfile.',
        });
      }
    }
  }

  async up(ctx: MachineContext): Promise<{created: boolean; resumed?: boolean; cloudInitAbsent?: boolean; timings: UpTimings}> {
    const {project, machine, dir, ui, signal} = ctx;
    const timings: UpTimings = {};
    let mark = performance.now();
    const lap = (name: string) => { const now = performance.now(); timings[name] = Math.round(now - mark); mark = now; };
    const state = await readMachineState(project.root, machine.name);
    if (state) {
      const current = await this.status(ctx);
      if (current.status === 'running') {
        const q = state.provider as unknown as QemuMachineState;
        // Every up that finds the insecure key still in place replaces it: an up killed during
        // the first boot leaves a running guest that Vagrant's public key opens.
        if (this.keyPending(ctx, q) && q.sshPort !== undefined && typeof current.details?.pid === 'number') {
          ui.info(`${machine.name} is running, but the replacement of its insecure key was never recorded; finishing it now.`);
          const running: QemuUpState = {q, sshPort: q.sshPort, pid: current.details.pid, bootedAt: Date.now()};
          await runSteps(onlyRuns(this.upSteps(ctx, running, lap, {disk: false, boot: false})), running, {ui, signal});
        } else {
          ui.info(`${machine.name} is already running.`);
        }
        return {created: false, timings};
      }
      // A live but unhealthy QEMU holds the disk: starting a second one would fail or corrupt it.
      // (A half-created machine without a process is simply resumed below.)
      if (current.status === 'broken' && current.details?.pid !== undefined) {
        throw new BoxError('ERR_MACHINE_BROKEN', `Machine ${machine.name} is broken: ${current.reason}.`, {hint: `Run \`${current.repair}\`, then \`box up ${machine.name}\`.`});
      }
    }
    // Ports first: a collision must fail before anything is created or booted.
    const forwards: PortForward[] = machine.forwardedPorts.map((p) => ({protocol: p.protocol, hostIp: p.hostIp, host: p.host, guest: p.guest}));
    const others = project.machines.filter((m) => m.name !== machine.name && m.target === 'qemu')
      .map((m) => ({machine: m.name, forwardedPorts: m.forwardedPorts.map((p) => ({protocol: p.protocol, hostIp: p.hostIp, host: p.host, guest: p.guest}))}));
    await checkForwardedPorts(project.boxfilePath, {machine: machine.name, forwardedPorts: forwards}, others);
    const accel = await detectAccel(machine.qemu.accel, {probe: qemuKvmProbe(machine.qemu.binary), kvmRequiredBy: machine.qemu.kvmRequiredBy});
    if (accel.accel === 'tcg') ui.info(`${machine.name}: ${accel.reason}.`);
    // virtiofs folders need virtiofsd on the host: missing, nothing is created.
    const virtiofsd = machine.syncedFolders.some((f) => f.type === 'virtiofs') ? await findVirtiofsd() : undefined;
    throwIfAborted(signal);
    lap('checks');

    if (!state) {
      const cloudInitAbsent = await this.create(ctx, {accel, forwards, virtiofsd}, lap, timings);
      return {created: true, ...(cloudInitAbsent ? {cloudInitAbsent} : {}), timings};
    }
    // An existing machine is only started: a failure or Ctrl-C leaves it as it is (no cleanups).
    const q = state.provider as unknown as QemuMachineState;
    lap('resolveBox');
    const existing: QemuUpState = {q, accel, forwards, virtiofsd, ...(q.suspended ? {resume: q.suspended} : {})};
    const disk = !existsSync(machinePaths(dir).disk) || q.phase === 'creating';
    await withBootPhases(existing, timings, () => runSteps(onlyRuns(this.upSteps(ctx, existing, lap, {disk, boot: true})), existing, {ui, signal}));
    return {created: false, ...(existing.resume ? {resumed: true} : {}), timings};
  }

  /**
   * A new machine: the box is resolved and the machine recorded BEFORE anything is created (so
   * `destroy` after a crash finds it all), then the steps make the disk, start QEMU and ready
   * the guest; a failure or Ctrl-C runs their cleanups, which leave nothing behind.
   */
  /** Makes and boots a new machine; true when its guest said it has no cloud-init. */
  private async create(ctx: MachineContext, checks: {accel: AccelDecision; forwards: PortForward[]; virtiofsd?: string}, lap: (name: string) => void, timings: UpTimings): Promise<boolean> {
    const {project, machine, dir, ui, signal} = ctx;
    if (ctx.cloneFrom) {
      await this.createClone(ctx, checks, lap);
      return false;
    }
    ui.stage('resolve-box', machine.basebox?.raw ?? '');
    // The box store, key insertion and the private network load when `up` needs them, not with
    // the provider that every `box status` makes (docs/architecture.md, "Start-up").
    const {resolveBasebox} = await import('../../boxes/resolve.js');
    const box = await resolveBasebox(machine.basebox, {provider: 'libvirt', ui, signal});
    const baseImage = path.join(box.dir, 'box.img');
    if (!existsSync(baseImage)) {
      throw new BoxError('ERR_BOX_INVALID', `Box ${box.name} ${box.version} has no box.img in ${box.dir}.`, {hint: `Reinstall it: \`box box remove ${box.name}\` then \`box box add ...\`.`});
    }
    const meta = box.metadata as {kernel?: string; initrd?: string; cmdline?: string; format?: string; disk_bus?: string; nic_model?: string};
    // The box's Vagrantfile (read, never run) configures it as vagrant-libvirt would: its kernel,
    // initrd and command line, disk bus and NIC win over box's own metadata fields.
    const vagrantfile = await readBoxVagrantfile(box.dir, 'libvirt');
    const v = vagrantfile?.libvirt ?? {};
    const kernel = v.kernel !== undefined
      ? {kernel: v.kernel, initrd: v.initrd, cmdline: v.cmdLine ?? meta.cmdline}
      : typeof meta.kernel === 'string' && existsSync(path.join(box.dir, meta.kernel))
        ? {kernel: path.join(box.dir, meta.kernel), initrd: v.initrd ?? (meta.initrd ? path.join(box.dir, meta.initrd) : undefined), cmdline: v.cmdLine ?? meta.cmdline}
        : undefined;
    const hardware = hardwareOf({disk_bus: v.diskBus ?? meta.disk_bus, nic_model: v.nicModel === 'virtio-net-pci' ? 'virtio' : v.nicModel ?? meta.nic_model});
    await mkdir(dir, {recursive: true});
    const q: QemuMachineState = {
      phase: 'creating',
      ...machinePaths(dir),
      baseImage,
      baseFormat: meta.format ?? 'qcow2',
      forwardedPorts: checks.forwards,
      kernel,
      hardware,
      ...(vagrantfile ? {boxSettings: {ssh: vagrantfile.ssh, libvirt: vagrantfile.libvirt}} : {}),
      keyInserted: false,
    };
    await writeMachineState(project.root, {
      machine: machine.name,
      target: 'qemu',
      createdAt: new Date().toISOString(),
      box: {name: box.name, version: box.version, provider: box.provider, dir: box.dir},
      provisioned: false,
      upCompleted: false,
      provider: q as unknown as Record<string, unknown>,
    });
    await indexMachine({project: project.name, projectRoot: project.root, machine: machine.name, target: 'qemu', box: {name: box.name, version: box.version, provider: box.provider}});
    lap('resolveBox');
    const created: QemuUpState = {q, ...checks};
    await withBootPhases(created, timings, () => runCreateSteps(ctx, this.upSteps(ctx, created, lap, {disk: true, boot: true}), created, 'its QEMU or disk'));
    return created.noCloudInit === true;
  }

  /** A new machine from another's disk state (`--from`): the source's box, kernel and hardware, recorded first as create() does. */
  private async createClone(ctx: MachineContext, checks: {accel: AccelDecision; forwards: PortForward[]; virtiofsd?: string}, lap: (name: string) => void): Promise<void> {
    const {project, machine, dir, ui, signal} = ctx;
    const from = ctx.cloneFrom!;
    ui.stage('clone-from', `${from.machine}${from.snapshot === undefined ? '' : `@${from.snapshot}`}`);
    await mkdir(dir, {recursive: true});
    const {inheritFromSource} = await import('./clone.js');
    const {box, inherited, clone} = await inheritFromSource(project.root, dir, from, signal);
    const q: QemuMachineState = {phase: 'creating', ...machinePaths(dir), ...inherited, forwardedPorts: checks.forwards, keyInserted: false, clone};
    await writeMachineState(project.root, {
      machine: machine.name, target: 'qemu', createdAt: new Date().toISOString(), ...(box ? {box} : {}),
      cloneOf: {machine: from.machine, ...(from.snapshot === undefined ? {} : {snapshot: from.snapshot})},
      provisioned: false, upCompleted: false, provider: q as unknown as Record<string, unknown>,
    });
    await indexMachine({project: project.name, projectRoot: project.root, machine: machine.name, target: 'qemu', ...(box ? {box: {name: box.name, version: box.version, provider: box.provider}} : {})});
    lap('resolveBox');
    const created: QemuUpState = {q, ...checks};
    await runCreateSteps(ctx, this.upSteps(ctx, created, lap, {disk: true, boot: true}), created, 'its QEMU or disk');
  }

  /**
   * The steps of an up, each with the cleanup of what it made (used when a new machine fails):
   * create-disk (the overlay over the box image), boot (QEMU, stopped by the pid it recorded or
   * found by its folder), wait-for-ssh, and insert-key while the insecure key is in place.
   */
  private upSteps(ctx: MachineContext, up: QemuUpState, lap: (name: string) => void, include: {disk: boolean; boot: boolean}): Array<Step<QemuUpState>> {
    const {project, machine, dir, signal} = ctx;
    const files = machinePaths(dir);
    const q = up.q;
    // Settings of the box's Vagrantfile that the user did not set (memory, cpus, SSH user/port/key).
    const boxed = withBoxSettings(machine, q.boxSettings);
    const failed = (outcome: StepOutcome) => outcome !== 'succeeded';
    const steps: Array<Step<QemuUpState>> = [];
    if (include.disk) {
      steps.push({
        name: 'create-disk',
        run: async (s) => {
          // The box image, checked again (the store may have changed since it was added).
          s.base = await inspectDiskImage(q.baseImage, q.baseFormat, signal);
          if (!existsSync(files.disk)) {
            s.madeDisk = true;
            let under = {file: q.baseImage, format: q.baseFormat, virtualSize: s.base.virtualSize};
            if (q.clone) {
              const {cloneBaseFor} = await import('./clone.js');
              under = await cloneBaseFor(ctx, q.clone, q, signal);
            }
            await createOverlay(under.file, files.disk, {baseFormat: under.format, sizeBytes: Math.max(Math.round(machine.qemu.diskGiB * GiB), under.virtualSize), signal});
          }
          if (q.phase === 'creating') await this.patch(ctx, (r) => { r.phase = 'created'; });
          throwIfAborted(signal);
          lap('createDisk');
        },
        cleanup: async (s, outcome) => {
          if (failed(outcome) && s.madeDisk) await rm(files.disk, {force: true});
          if (failed(outcome) && s.madeDisk && q.clone) await rm(q.clone.base, {force: true});
        },
      });
    }
    if (include.boot) {
      steps.push({
        name: 'boot',
        detail: (s) => `${boxed.machine.qemu.cpus} cpu, ${boxed.machine.qemu.memoryMiB} MiB, ${s.accel!.accel}${q.kernel ? ', direct kernel boot' : ''}`,
        run: async (s) => this.boot(ctx, s, boxed, lap),
        cleanup: async (s, outcome) => {
          if (!failed(outcome)) return;
          await this.stopQemus(ctx, s.pid);
          await stopVirtiofsds(dir, sharedSockets(q));
          await rm(files.pidFile, {force: true});
          await rm(files.qmpSocket, {force: true});
        },
      });
    }
    steps.push({
      name: 'wait-for-ssh',
      detail: (s) => `127.0.0.1:${s.sshPort}`,
      run: async (s) => {
        await waitForSshBanner({port: s.sshPort!, timeoutMs: machine.ssh.timeoutSeconds * 1000, signal, pid: s.pid!, serialLog: files.serialLog, serial: s.serial});
        s.bannerAt = Date.now();
        lap('waitForSsh');
      },
    });
    // A resumed guest kept its network, mounts and key; only its clock stood still.
    if (up.resume) {
      steps.push({name: 'set-clock', run: async () => { await syncGuestClock(ctx, await this.sshInfo(ctx)); lap('setClock'); }});
      return steps;
    }
    if (this.keyPending(ctx, q)) {
      steps.push({
        name: 'insert-key',
        detail: () => 'replacing the insecure key with a per-machine key, ending password logins',
        run: async (s) => {
          // A box-built guest took the key (and host name) through fw_cfg before sshd started,
          // and said so on its console: no SSH round. Any other guest: the swap over SSH.
          const said = await guestTookKey(files.serialLog, q.firstBoot?.nonce);
          const fromGuest = said.tookKey;
          s.noCloudInit = said.noCloudInit;
          const remaining = Math.max(10_000, machine.ssh.timeoutSeconds * 1000 - (Date.now() - s.bootedAt!));
          let hostname: string | undefined;
          if (fromGuest) {
            hostname = q.firstBoot?.hostname;
          } else {
            // The host name is set in the same round (the up service sets it otherwise).
            const recorded = await readMachineState(project.root, machine.name);
            hostname = machine.hostname !== undefined && machine.hostname !== recorded?.hostname ? machine.hostname : undefined;
            const {insertMachineKey} = await import('../shared/guest-ssh.js');
            const firstLoginKey = q.clone
              ? await (await import('../shared/clone-guest.js')).cloneFirstLoginKey({port: s.sshPort!, username: boxed.machine.ssh.username}, q.clone, boxed.firstLoginKey, remaining, signal)
              : boxed.firstLoginKey;
            await insertMachineKey({dir, port: s.sshPort!, username: boxed.machine.ssh.username, timeoutMs: remaining, signal, hostname, firstLoginKey});
          }
          // A clone, however its key came, gets a machine-id and host keys of its own.
          if (q.clone) await (await import('../shared/clone-guest.js')).giveCloneItsIdentity({port: s.sshPort!, username: boxed.machine.ssh.username, privateKeyPath: path.join(dir, machineFiles.privateKey)}, machine.name, remaining, signal);
          await updateMachineState(project.root, machine.name, (r) => {
            (r.provider as unknown as QemuMachineState).keyInserted = true;
            if (hostname !== undefined) r.hostname = hostname;
          });
          s.keyAt = Date.now();
          lap(fromGuest ? 'keyFromGuest' : 'insertKey');
        },
      });
    }
    if (include.boot && machine.networks.length > 0) {
      steps.push({
        name: 'private-network',
        detail: (s) => `${s.privateNic!.ip}/24 on the interface with MAC ${s.privateNic!.mac}`,
        run: async (s) => {
          const {configurePrivateNetwork} = await import('../shared/private-network.js');
          await configurePrivateNetwork(ctx, this, s.privateNic!);
          lap('privateNetwork');
        },
      });
    }
    const shared = sharedFolders(machine, dir);
    if (include.boot && shared.length > 0) {
      steps.push({
        name: 'synced-folders',
        detail: () => shared.map((f) => `${f.destination} (${f.type})`).join(', '),
        run: async () => {
          await mountSharedFolders(ctx, this, shared);
          lap('syncedFolders');
        },
      });
    }
    return steps;
  }

  /** Starts QEMU on the machine's disk (daemonized) and records its SSH port and pid. */
  private async boot(ctx: MachineContext, s: QemuUpState, boxed: ReturnType<typeof withBoxSettings>, lap: (name: string) => void): Promise<void> {
    const {project, machine, dir, signal} = ctx;
    const files = machinePaths(dir);
    const {q, accel, forwards} = s as Required<QemuUpState>;
    // The box image again, before every boot (unless create-disk just checked it): of its
    // declared format, with no backing or data file. QEMU then opens it with no backing.
    s.base ??= await inspectDiskImage(q.baseImage, q.baseFormat, signal);
    // Keep the recorded SSH port across boots when it is still free (stable ssh-config).
    const sshPort = q.sshPort !== undefined && await portIsFree('tcp', '127.0.0.1', q.sshPort) ? q.sshPort : await freePort();
    s.sshPort = sshPort;
    s.privateNic = await planPrivateNetwork(project, machine);
    const shared = sharedFolders(machine, dir);
    await rm(files.pidFile, {force: true});
    await rm(files.qmpSocket, {force: true});
    await this.patch(ctx, (r) => {
      Object.assign(r, files);
      r.sshPort = sshPort;
      r.accel = accel.accel;
      r.accelReason = accel.reason;
      r.forwardedPorts = forwards;
      r.pid = undefined;
      r.sharedFolders = shared;
      r.virtiofsdPids = undefined;
      r.startedAt = new Date().toISOString();
    });
    q.sharedFolders = shared;
    try {
      await this.startQemu(ctx, s, boxed, shared);
    } catch (error) {
      // No QEMU started: its virtiofsds would wait for it forever. (One that started before a
      // Ctrl-C keeps them: the first up's cleanup stops both, an existing machine stays up.)
      if ((await machineQemuPids(dir)).length === 0) await stopVirtiofsds(dir, sharedSockets(q));
      throw error;
    }
    lap('startQemu');
  }

  /** Starts the folders' virtiofsds, then QEMU (daemonized), and records their pids. */
  private async startQemu(ctx: MachineContext, s: QemuUpState, boxed: ReturnType<typeof withBoxSettings>, shared: SharedFolder[]): Promise<void> {
    const {project, machine, dir, signal} = ctx;
    const files = machinePaths(dir);
    const {q, accel, forwards} = s as Required<QemuUpState>;
    const sshPort = s.sshPort!;
    const virtiofsdPids: number[] = [];
    for (const [index, folder] of shared.entries()) {
      if (folder.type !== 'virtiofs') continue;
      virtiofsdPids.push(await startVirtiofsd(s.virtiofsd ?? await findVirtiofsd(), {source: folder.source, socket: folder.socket!, log: virtiofsdLog(dir, index)}));
      await this.patch(ctx, (r) => { r.virtiofsdPids = [...virtiofsdPids]; });
    }
    // The in-memory record follows the file, as the rest of this boot reads it.
    // A resumed guest saw the seed CD it was saved with: never rebuilt under it. Its QEMU gets the
    // fw_cfg entries it was launched with (the same devices), and no new key handover.
    const seed = s.resume ? q.cloudInitSeed : await refreshCloudInitSeed(machine, dir, q, async (change) => { change(q); await this.patch(ctx, change); });
    const fwCfg = s.resume ? launchFwCfg(s.resume.launch) : [await this.handOverKey(ctx, q, boxed)].filter((f) => f !== undefined);
    const args = buildQemuArgs({
      name: `box-${project.name}-${machine.name}`,
      machineType: machine.qemu.machineType,
      accel: accel.accel,
      cpus: boxed.machine.qemu.cpus,
      memoryMiB: boxed.machine.qemu.memoryMiB,
      disk: files.disk,
      qmpSocket: files.qmpSocket,
      pidFile: files.pidFile,
      serialLog: files.serialLog,
      sshPort,
      sshGuestPort: boxed.machine.ssh.port,
      forwardedPorts: forwards,
      kernel: q.kernel,
      hardware: q.hardware,
      base: {file: q.baseImage, format: q.baseFormat, ...(q.clone ? {clone: q.clone.base} : {})},
      privateNetwork: s.privateNic,
      sharedFolders: shared,
      ...(seed ? {cloudInitSeed: seed} : {}),
      ...(fwCfg.length > 0 ? {fwCfg} : {}),
      extraArgs: machine.qemu.extraArgs,
      ...(s.resume ? {incoming: 'defer'} : {}),
    });
    // -daemonize: QEMU forks once the VM is set up and the parent exits, so errors in the
    // image or arguments come back here on stderr, and the pid file names the daemon, which
    // outlives this CLI (a kill -9 of box leaves a QEMU that state.json + qemu.pid record).
    // Its own process group: a Ctrl-C in the terminal reaches box only, and box lets the
    // start finish (a few seconds at most) before it stops what it made, as in every phase;
    // otherwise QEMU died of the same SIGINT and box blamed the image.
    s.qemuStartAt = Date.now();
    const result = await startInOwnGroup(machine.qemu.binary, args, {env: {LANG: 'C'}, timeoutMs: 60_000});
    s.bootedAt = Date.now();
    if (!result.failed) s.serial = new SerialWatch(files.serialLog).start();
    // A resuming QEMU is stopped by resumeFromState on Ctrl-C (the machine stays suspended).
    if (!s.resume) throwIfAborted(signal);
    if (result.failed) {
      const stderr = String(result.stderr).trim().split('\n').slice(-10).join('\n');
      throw new BoxError('ERR_QEMU_START', `QEMU failed to start ${machine.name}${result.exitCode === undefined ? '' : ` (exit ${result.exitCode})`}: ${stderr || result.shortMessage}`, {
        hint: 'Check the box image with `qemu-img check` and the targets.qemu settings in the Boxfile.',
        details: {args},
      });
    }
    const pid = await readPidFile(files.pidFile);
    if (pid === undefined) throw new BoxError('ERR_QEMU_START', `QEMU started but wrote no pid file at ${files.pidFile}.`);
    s.pid = pid;
    await this.patch(ctx, (r) => { r.pid = pid; });
    if (s.resume) await resumeFromState(ctx, {pid, args, sshPort, baseImage: q.baseImage, saved: s.resume, qmpSocket: files.qmpSocket, pidFile: files.pidFile}, (change) => this.patch(ctx, change));
  }

  async suspend(ctx: MachineContext): Promise<SuspendOutcome> {
    const state = await readMachineState(ctx.project.root, ctx.machine.name);
    const q = state?.provider as unknown as QemuMachineState | undefined;
    const pid = q && await this.livePid(ctx.dir, q);
    return suspendQemu(ctx, {q, pid, files: machinePaths(ctx.dir)}, (change) => this.patch(ctx, change));
  }

  /**
   * While the insecure key is pending: the machine's public key (and the host name to set) for a
   * box-built guest to take through fw_cfg before sshd starts, recorded with this boot's nonce.
   */
  private async handOverKey(ctx: MachineContext, q: QemuMachineState, boxed: ReturnType<typeof withBoxSettings>): Promise<{name: string; file: string} | undefined> {
    if (!this.keyPending(ctx, q)) return undefined;
    const recorded = await readMachineState(ctx.project.root, ctx.machine.name);
    const hostname = ctx.machine.hostname !== undefined && ctx.machine.hostname !== recorded?.hostname ? ctx.machine.hostname : undefined;
    const {fwCfg, nonce} = await writeFirstBootHandover(ctx.dir, {username: boxed.machine.ssh.username, hostname});
    q.firstBoot = {nonce, ...(hostname === undefined ? {} : {hostname})};
    await this.patch(ctx, (r) => { r.firstBoot = q.firstBoot; });
    return fwCfg;
  }

  /** The insecure key is still to be replaced (not recorded as done, and the Boxfile wants it done). */
  private keyPending(ctx: MachineContext, q: QemuMachineState): boolean {
    const {ssh} = withBoxSettings(ctx.machine, q.boxSettings).machine;
    return !q.keyInserted && ssh.insertKey && !ssh.privateKeyPath;
  }

  async halt(ctx: MachineContext, options: {force: boolean; timeoutSeconds: number}): Promise<StoppedBy | void> {
    const state = await readMachineState(ctx.project.root, ctx.machine.name);
    if (!state) return;
    const q = state.provider as unknown as QemuMachineState;
    const files = machinePaths(ctx.dir);
    const pid = await this.livePid(ctx.dir, q);
    let stoppedBy: StoppedBy | undefined;
    // --force on a suspended machine discards its saved state (docs/qemu.md, "Suspend").
    if (pid === undefined && q.suspended && options.force) {
      await rm(q.suspended.file, {force: true});
      await this.patch(ctx, (r) => { r.suspended = undefined; });
    }
    if (pid !== undefined) {
      if (options.force) {
        process.kill(pid, 'SIGKILL');
        await waitForExit(pid, 5000);
        stoppedBy = 'kill';
      } else {
        stoppedBy = await this.gracefulStop(ctx, q, pid, options.timeoutSeconds * 1000);
      }
    }
    // With QEMU gone its virtiofsds exit by themselves; any left are stopped.
    await stopVirtiofsds(ctx.dir, sharedSockets(q));
    await rm(files.pidFile, {force: true});
    await rm(files.qmpSocket, {force: true});
    await this.patch(ctx, (s) => { s.pid = undefined; s.virtiofsdPids = undefined; });
    return stoppedBy;
  }

  /** Lima's order: ACPI power button over QMP, then `poweroff` over SSH, then SIGKILL. */
  private async gracefulStop(ctx: MachineContext, q: QemuMachineState, pid: number, timeoutMs: number): Promise<StoppedBy> {
    const deadline = Date.now() + timeoutMs;
    let acpi = true;
    try {
      await qmpOnce(machinePaths(ctx.dir).qmpSocket, 'system_powerdown');
    } catch {
      acpi = false;
    }
    // The guest needs something listening for the power button (logind, acpid); give it a few s.
    if (acpi && await waitForExit(pid, Math.min(6000, timeoutMs))) return 'acpi';
    if (q.sshPort !== undefined && Date.now() < deadline) {
      ctx.ui.info(`${ctx.machine.name}: ${acpi ? 'no reaction to the ACPI power button' : 'QMP did not answer'}; running poweroff over SSH.`);
      const sshInfo = await this.sshInfo(ctx).catch(() => undefined);
      if (sshInfo) await (await import('../shared/guest-ssh.js')).sshPoweroff(sshInfo, Math.min(15_000, Math.max(1000, deadline - Date.now())));
      if (await waitForExit(pid, Math.max(0, deadline - Date.now()))) return 'ssh-poweroff';
    }
    ctx.ui.warn(`${ctx.machine.name} did not shut down within ${Math.round(timeoutMs / 1000)} s; killing QEMU.`);
    process.kill(pid, 'SIGKILL');
    await waitForExit(pid, 5000);
    return 'kill';
  }

  /**
   * Stops whatever QEMU the machine started, found from every record there is: the pid in
   * state.json, the pid file, and the command lines in /proc that name the machine folder (the
   * record that survives a lost pid file or a damaged state.json); a QEMU still answering on the
   * folder's QMP socket is told to quit. Only then are the files removed. What could not be
   * stopped is an error that keeps the files, so the next `destroy` tries again.
   */
  async destroy(ctx: MachineContext): Promise<void> {
    const {dir, project, machine, ui} = ctx;
    let q: QemuMachineState | undefined;
    try {
      q = (await readMachineState(project.root, machine.name))?.provider as unknown as QemuMachineState | undefined;
    } catch (error) {
      if (!isStateCorrupt(error)) throw error;
      ui.warn(`${machine.name}: ${error.message} Looking for its QEMU by its folder instead.`);
    }
    await this.stopQemus(ctx, q?.pid);
    await stopVirtiofsds(dir, q ? sharedSockets(q) : []);
    await rm(machinePaths(dir).qmpSocket, {force: true});
    await removeMachineFiles(dir);
    await unindexMachine(project.root, machine.name);
  }

  /**
   * Stops every QEMU of the machine: the recorded pid, the pid file's, the ones whose command
   * line names the machine folder, and one answering on its QMP socket. Throws
   * ERR_DESTROY_INCOMPLETE for one that did not stop.
   */
  private async stopQemus(ctx: MachineContext, recordedPid: number | undefined): Promise<void> {
    const {dir, machine, ui} = ctx;
    const files = machinePaths(dir);
    const recorded = new Map<number, string>();
    if (recordedPid) recorded.set(recordedPid, 'state.json');
    const fromPidFile = await readPidFile(files.pidFile);
    if (fromPidFile !== undefined) recorded.set(fromPidFile, qemuFiles.pid);
    const stuck: number[] = [];
    for (const [pid, record] of recorded) {
      if (pidAlive(pid) && !(await isOurQemu(pid, dir))) ui.info(`${machine.name}: pid ${pid} from ${record} is not this machine's QEMU now (left alone).`);
    }
    for (const pid of new Set([...recorded.keys(), ...await machineQemuPids(dir)])) {
      if (!(await isOurQemu(pid, dir))) continue;
      process.kill(pid, 'SIGKILL');
      if (!(await waitForExit(pid, 5000))) stuck.push(pid);
    }
    // A QEMU this process cannot see in /proc (another pid namespace, hidepid) still has its socket.
    const quitViaQmp = await qmpOnce(files.qmpSocket, 'quit', undefined, 2000).then(() => true, () => false);
    if (quitViaQmp) {
      ui.info(`${machine.name}: a QEMU that box could not see as a process answered on ${files.qmpSocket}; told it to quit.`);
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && await qmpOnce(files.qmpSocket, 'query-status', undefined, 1000).then(() => true, () => false)) {
        await new Promise((r) => setTimeout(r, 200));
      }
      if (await qmpOnce(files.qmpSocket, 'query-status', undefined, 1000).then(() => true, () => false)) {
        throw new BoxError('ERR_DESTROY_INCOMPLETE', `A QEMU of ${machine.name} still answers on ${files.qmpSocket} after being told to quit; nothing was removed.`, {
          hint: `Find it with \`ss -xlp | grep ${path.basename(files.qmpSocket)}\` and stop it, then run \`box destroy ${machine.name}\` again.`,
        });
      }
    }
    if (stuck.length > 0) {
      throw new BoxError('ERR_DESTROY_INCOMPLETE', `QEMU of ${machine.name} (pid ${stuck.join(', ')}) did not exit after SIGKILL; its files are kept so that \`box destroy\` can try again.`, {
        hint: `Look at \`ps -o pid,stat,cmd -p ${stuck.join(',')}\` (a process in state D waits for the kernel), then run \`box destroy ${machine.name}\` again.`,
      });
    }
  }

  async status(ctx: MachineContext): Promise<StatusReport> {
    const {dir, project, machine} = ctx;
    let state: MachineState | undefined;
    try {
      state = await readMachineState(project.root, machine.name);
    } catch (error) {
      if (!isStateCorrupt(error)) throw error;
      const pids = await machineQemuPids(dir);
      return {
        status: 'broken',
        reason: `its record ${error.file} is unreadable (${error.problem})${pids.length > 0 ? `; its QEMU (pid ${pids.join(', ')}) is running` : ''}`,
        repair: `box destroy ${machine.name}`,
        details: {stateFile: error.file, ...(pids.length > 0 ? {pid: pids[0]} : {})},
      };
    }
    const files = machinePaths(dir);
    return reconcile({
      name: machine.name,
      state,
      pidFilePid: await readPidFile(files.pidFile),
      dirExists: existsSync(dir),
      files,
      probe: {
        isOurQemu: (pid) => isOurQemu(pid, dir),
        machineQemus: () => machineQemuPids(dir),
        diskExists: (file) => stat(file).then(() => true, () => false),
        qmpStatus: (socket) => qmpOnce<{status: string}>(socket, 'query-status', undefined, 2000).then((r) => r.status, () => undefined),
      },
    });
  }

  async sshInfo(ctx: MachineContext): Promise<SshInfo> {
    const state = await readMachineState(ctx.project.root, ctx.machine.name);
    const q = state?.provider as unknown as QemuMachineState | undefined;
    if (!state || q?.sshPort === undefined) {
      throw new BoxError('ERR_NOT_CREATED', `Machine ${ctx.machine.name} is not created.`, {hint: `Run \`box up ${ctx.machine.name}\`.`});
    }
    const {insecureKeyPath} = await import('../../communicators/keys.js');
    const boxed = withBoxSettings(ctx.machine, q.boxSettings);
    const privateKeyPath = boxed.machine.ssh.privateKeyPath
      ?? (q.keyInserted ? path.join(ctx.dir, machineFiles.privateKey) : boxed.firstLoginKey ?? await insecureKeyPath());
    return {host: '127.0.0.1', port: q.sshPort, username: boxed.machine.ssh.username, privateKeyPath};
  }

  /** The machine's running QEMU: the recorded pid, the pid file's, or one found by its folder in /proc. */
  private async livePid(dir: string, q: QemuMachineState): Promise<number | undefined> {
    for (const pid of [q.pid, await readPidFile(machinePaths(dir).pidFile)]) {
      if (pid !== undefined && await isOurQemu(pid, dir)) return pid;
    }
    return (await machineQemuPids(dir))[0];
  }

  private async patch(ctx: MachineContext, change: (q: QemuMachineState) => void): Promise<void> {
    await updateMachineState(ctx.project.root, ctx.machine.name, (s) => change(s.provider as unknown as QemuMachineState));
  }
}

export interface ReconcileInput {
  name: string;
  state: MachineState | undefined;
  pidFilePid: number | undefined;
  dirExists: boolean;
  /** The machine's files where the project is now (`machinePaths`). */
  files: {disk: string; qmpSocket: string};
  probe: {
    /** Is this pid the machine's QEMU (its command line names the machine folder)? */
    isOurQemu: (pid: number) => Promise<boolean>;
    /** The machine's QEMUs found by their command line, when no record names one. */
    machineQemus: () => Promise<number[]>;
    diskExists: (file: string) => Promise<boolean>;
    qmpStatus: (socket: string) => Promise<string | undefined>;
  };
}

/**
 * What is recorded vs what is real. Running means: our QEMU process is alive AND answers QMP.
 * Every broken case names the command that repairs it.
 */
export async function reconcile(input: ReconcileInput): Promise<StatusReport> {
  const {name, state, probe, files} = input;
  const q = state?.provider as unknown as QemuMachineState | undefined;
  const disk = files.disk;
  const pids = [...new Set([q?.pid, input.pidFilePid].filter((p): p is number => p !== undefined))];
  let pid: number | undefined;
  for (const p of pids) if (await probe.isOurQemu(p)) { pid = p; break; }
  pid ??= (await probe.machineQemus())[0];

  if (!state) {
    if (pid !== undefined) {
      return {status: 'broken', reason: `a QEMU process (pid ${pid}) runs for ${name} but its state was never recorded (box was interrupted)`, repair: `box destroy ${name}`, details: {pid}};
    }
    if (input.dirExists && await probe.diskExists(disk)) {
      return {status: 'broken', reason: `${name} has a disk but no recorded state`, repair: `box destroy ${name}`};
    }
    return {status: 'not-created'};
  }
  const details: Record<string, unknown> = {
    sshPort: q?.sshPort, accel: q?.accel, accelReason: q?.accelReason, disk, serialLog: q?.serialLog,
    box: state.box ? `${state.box.name} ${state.box.version}` : undefined,
  };
  if (pid !== undefined) {
    const qmp = await probe.qmpStatus(files.qmpSocket);
    if (qmp === undefined) {
      return {status: 'broken', reason: `QEMU (pid ${pid}) is alive but does not answer on its QMP socket`, repair: `box halt --force ${name}`, details: {...details, pid}};
    }
    if (qmp !== 'running') {
      return {status: 'broken', reason: `QEMU (pid ${pid}) reports the guest as "${qmp}"`, repair: `box reload ${name}`, details: {...details, pid, qemuStatus: qmp}};
    }
    return {status: 'running', details: {...details, pid}};
  }
  if (q?.suspended) {
    return await probe.diskExists(q.suspended.file)
      ? {status: 'suspended', details: {...details, suspendedAt: q.suspended.at, stateFile: q.suspended.file, stateBytes: q.suspended.bytes}}
      : {status: 'broken', reason: `${name} is recorded as suspended but its saved state ${q.suspended.file} is missing`, repair: `box halt --force ${name}`, details};
  }
  if (q?.phase === 'creating' || !(await probe.diskExists(disk))) {
    return {status: 'broken', reason: q?.phase === 'creating' ? `${name} was only half created (box was interrupted)` : `the disk ${disk} of ${name} is missing`, repair: `box destroy ${name}`, details};
  }
  return {status: 'stopped', details};
}

/**
 * Runs an up's steps and, when they booted the guest, puts its boot phases (read from the serial
 * console while box waited) into `timings.boot`. The console is followed only during the steps.
 */
async function withBootPhases(s: QemuUpState, timings: UpTimings, steps: () => Promise<void>): Promise<void> {
  try {
    await steps();
  } finally {
    const lines = await s.serial?.stop();
    if (lines && s.qemuStartAt !== undefined) {
      const start = s.qemuStartAt;
      const phases = bootPhases(lines, start, {nonce: s.q.firstBoot?.nonce});
      if (s.bannerAt !== undefined) phases.banner = Math.round(s.bannerAt - start);
      if (s.keyAt !== undefined) phases.keyReady = Math.round(s.keyAt - start);
      timings.boot = phases;
    }
  }
}

/** The virtiofsd sockets the machine's last boot used (some may live in the temp folder). */
function sharedSockets(q: QemuMachineState): string[] {
  return (q.sharedFolders ?? []).flatMap((f) => (f.socket ? [f.socket] : []));
}

export function createQemuProvider(): Provider {
  return new QemuProvider();
}
