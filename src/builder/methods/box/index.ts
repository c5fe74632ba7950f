import {tryRun} from '../../../core/exec.js';
import {BoxError, UsageError} from '../../../core/errors.js';
import {diskGiB, memoryMiB, type LoadedTemplate} from '../../template.js';
import type {BuildMethod} from '../index.js';
import {provisionerPlanLines} from '../../build-provisioners.js';
import {keepVmOnAbort, postInstallStep, provisionersStep, shutdownStep, waitForSshStep} from '../iso/guest.js';
import {resolveSource, sourceIdentity, sourceRef, SOURCE_PROVIDER} from './source.js';
import {bootOverlayStep, createOverlayStep, extractKernelStep, finishArtifact, resolveSourceStep} from './steps.js';

/**
 * Cache inputs of a from-box build: the source box's name, version and identity (so a new or
 * re-added source version rebuilds) and qemu-img's version. A source that is not installed is
 * not an error here (--dry-run must still print the plan); preflight reports it.
 */
export async function boxCacheInputs(template: LoadedTemplate): Promise<Record<string, unknown>> {
  const ref = sourceRef(template);
  let source: Record<string, unknown>;
  try {
    source = await sourceIdentity(await resolveSource(template));
  } catch (error) {
    if (!(error instanceof BoxError && error.code === 'ERR_BOX_NOT_FOUND')) throw error;
    source = {name: ref.name, constraint: ref.versionConstraint ?? null, missing: true};
  }
  return {source, qemuImg: await tryRun('qemu-img', ['--version'])};
}

/**
 * Builds from an existing box (what teams do with official images): boot a copy-on-write
 * overlay of the source box, run the post-install scripts over SSH, copy the current kernel
 * out when the box boots it directly, power off; the build tail flattens overlay + base into
 * one compressed qcow2 and packages it. The VM steps are the iso method's.
 */
export const boxMethod: BuildMethod = {
  name: 'box',
  async preflight(template) {
    for (const tool of ['qemu-system-x86_64', 'qemu-img']) {
      if ((await tryRun(tool, ['--version'])) === null) {
        throw new UsageError('ERR_HOST_TOOL', `${tool} is not installed; builds from a box need it.`, {hint: 'apt-get install qemu-system-x86 qemu-utils'});
      }
    }
    await resolveSource(template); // ERR_BOX_NOT_FOUND with a `box box add` hint before anything is created
  },
  cacheInputs: boxCacheInputs,
  plan(template) {
    const t = template.definition;
    const ref = sourceRef(template);
    return [
      `source box ${ref.raw} (${t.source?.provider ?? SOURCE_PROVIDER}) from the box store`,
      'copy-on-write qcow2 overlay of its box.img (the store copy is only read)',
      `VM: ${t.cpus} cpus, ${memoryMiB(t.memory)} MiB, disk at least ${diskGiB(t.disk)} GiB; direct kernel boot when the box carries vmlinuz/initrd`,
      `wait up to ${t.ssh.timeout} for SSH as ${t.ssh.username}`,
      ...t.post_install.map((p) => `post-install over SSH${p.privileged ? ' (sudo)' : ''}: ${p.script ?? `inline (${p.inline!.length} lines)`}`),
      ...provisionerPlanLines(template),
      'copy the newest /boot kernel + initrd out of the guest (if the source boots its kernel directly)',
      `shutdown: ${t.shutdown_command} (ACPI power button after ${t.shutdown_timeout})`,
    ];
  },
  steps: () => [
    resolveSourceStep,
    createOverlayStep,
    bootOverlayStep,
    ...[waitForSshStep, postInstallStep, provisionersStep, extractKernelStep, finishArtifact(shutdownStep)].map(keepVmOnAbort),
  ],
};
