import {mkdir, readdir, rm} from 'node:fs/promises';
import path from 'node:path';
import {packageBox} from '../../boxes/package.js';
import {BoxError} from '../../core/errors.js';
import {readMachineState} from '../../core/state.js';
import type {MachineContext, PackagedMachine, PackageMachineOptions, Provider} from '../provider.js';
import {baseBoxSteps, packageOrigin, resetOverSsh, runPackageSteps, statusForPackage, type PackageGuestState, type ResetGuest} from '../shared/package-machine.js';
import type {VirtualboxMachineState} from './machine-state.js';
import type {VBoxManage} from './vboxmanage.js';

interface PackageState extends PackageGuestState {
  /** The folder VBoxManage exports into, next to the output until packaged. */
  work?: string;
  /** NIC 1's MAC, for the box's Vagrantfile. */
  mac?: string;
}

/** The Vagrantfile `vagrant package` puts in a VirtualBox box: NIC 1's MAC, for guests whose network config names it. */
export function baseMacVagrantfile(mac: string): string {
  return `Vagrant.configure("2") do |config|\n  config.vm.base_mac = "${mac}"\nend\n`;
}

/**
 * `box package` on the virtualbox target (Vagrant's `vagrant package` with its VirtualBox
 * provider): the guest is made a base box again and the VM halted (shared with qemu,
 * package-machine.ts), then `VBoxManage export VM --output box.ovf` writes the appliance (the
 * OVF and its stream-optimized VMDK), which box's box writer packs with metadata.json
 * {"provider": "virtualbox"} and a Vagrantfile naming NIC 1's MAC, as Vagrant's own does. The
 * machine stays usable: its next `box up` swaps the insecure key again. A failure or Ctrl-C
 * removes the export folder and any half-written box, and puts the machine back as it was.
 */
export async function packageVirtualboxMachine(provider: Provider, vbox: VBoxManage, ctx: MachineContext, options: PackageMachineOptions, resetGuest: ResetGuest = resetOverSsh): Promise<PackagedMachine> {
  const {project, machine, signal} = ctx;
  const state = await readMachineState(project.root, machine.name);
  if (!state || state.target !== 'virtualbox') throw new BoxError('ERR_NOT_CREATED', `Machine ${machine.name} is not created.`, {hint: `Run \`box up ${machine.name}\` first.`});
  const before = await statusForPackage(provider, ctx);
  const s = state.provider as unknown as VirtualboxMachineState;
  const target = s.uuid ?? s.vmName;
  const st: PackageState = {};
  const steps = baseBoxSteps<PackageState>(provider, ctx, before, resetGuest);
  steps.push({
    name: 'export',
    detail: () => `${s.vmName} (VBoxManage export: OVF + stream-optimized VMDK)`,
    run: async (x) => {
      x.work = `${options.outputPath}.export-${process.pid}`;
      await rm(x.work, {recursive: true, force: true});
      await mkdir(x.work, {recursive: true});
      x.mac = (await vbox.vmInfo(target, signal))?.raw.get('macaddress1');
      await vbox.run(['export', target, '--output', path.join(x.work, 'box.ovf')], {signal, timeoutMs: 60 * 60_000});
    },
  });
  steps.push({
    name: 'package',
    detail: () => options.outputPath,
    run: async (x) => {
      // Everything VirtualBox wrote (box.ovf, box-disk001.vmdk..., a .mf when it makes one).
      const exported = (await readdir(x.work!)).sort().map((name) => ({name, path: path.join(x.work!, name)}));
      const metadata = {box_package: packageOrigin(ctx, state.box)};
      const files = [...exported, ...(x.mac ? [{name: 'Vagrantfile', content: baseMacVagrantfile(x.mac)}] : [])];
      const box = await packageBox({provider: 'virtualbox', metadata, files, outputPath: options.outputPath, signal});
      x.packaged = {provider: 'virtualbox', ...box, halted: before.status === 'running', metadata: {provider: 'virtualbox', ...metadata}};
    },
  });
  try {
    return await runPackageSteps(provider, ctx, steps, st);
  } finally {
    if (st.work) await rm(st.work, {recursive: true, force: true});
  }
}
