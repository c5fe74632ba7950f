import {tryRun} from '../../../core/exec.js';
import {UsageError} from '../../../core/errors.js';
import type {Step} from '../../../core/steps.js';
import {diskGiB, memoryMiB} from '../../template.js';
import type {BuildMethod, BuildState} from '../index.js';
import {provisionerPlanLines} from '../../build-provisioners.js';
import {httpServerStep} from './answers.js';
import {downloadIsoStep, isoCacheDir, isoIdentityForKey} from './download-iso.js';
import {keepVmOnAbort, postInstallStep, provisionersStep, shutdownStep, waitForSshStep} from './guest.js';
import {bootWaitStep, typeBootCommandStep, waitForAnswerFetchStep} from './keys.js';
import {iso, GUEST_HOST_IP} from './state.js';
import {checkBootCommand, renderBootCommand} from './keys.js';
import {renderString} from '../../render.js';
import {readFileSync} from 'node:fs';
import path from 'node:path';
import type {LoadedTemplate} from '../../template.js';
import {bootStep, createDiskStep} from './vm.js';

/** Step wrapper: after shutdown, the installed disk is the artifact the build tail compacts and packages. */
function installedDisk(shutdown: Step<BuildState>): Step<BuildState> {
  return {
    ...shutdown,
    async run(state, signal) {
      await shutdown.run(state, signal);
      const d = iso(state);
      state.artifact = {imagePath: d.disk!, format: 'qcow2', virtualSizeGiB: diskGiB(state.template.definition.disk), extraFiles: {}, extraMetadata: {}};
    },
  };
}

/**
 * Builds from an OS installer, veewee/Packer style: download + verify the ISO, render and
 * serve the answer files, boot, type the boot command over QMP, wait for the installer to
 * fetch its answers and for SSH on the installed system, run post-install scripts, power off
 * and compact the disk.
 */
export const isoMethod: BuildMethod = {
  name: 'iso',
  async preflight(template) {
    checkBootCommand(template);
    for (const tool of ['qemu-system-x86_64', 'qemu-img']) {
      if ((await tryRun(tool, ['--version'])) === null) {
        throw new UsageError('ERR_HOST_TOOL', `${tool} is not installed; installer builds need it.`, {hint: 'apt-get install qemu-system-x86 qemu-utils'});
      }
    }
    if (template.definition.answer_media === 'cdrom' && (await tryRun('xorriso', ['-version'])) === null) {
      throw new UsageError('ERR_HOST_TOOL', 'xorriso is not installed; it makes the answer-file CD.', {hint: 'apt-get install xorriso'});
    }
  },
  async cacheInputs(template) {
    const t = template.definition;
    // The ISO's checksum (resolved from a SUMS file, and remembered for offline runs) identifies the installer.
    const isoChecksum = t.iso ? await isoIdentityForKey(t.iso.checksum, t.iso.urls[0], template.dir) : undefined;
    return {isoChecksum, kernel: t.kernel?.checksum, initrd: t.initrd?.checksum, qemuImg: await tryRun('qemu-img', ['--version'])};
  },
  plan(template) {
    const t = template.definition;
    return [
      t.iso ? `installer ISO ${t.iso.urls[0]} (${t.iso.checksum}), cached in ${isoCacheDir()} by checksum` : `kernel ${t.kernel!.url} + initrd ${t.initrd!.url}`,
      `answer files ${t.answer_files.map((a) => a.name ?? a.template.replace(/\.hbs$/, '')).join(', ') || '(none)'} via ${t.answer_media === 'cdrom' ? 'a second CD' : 'the build HTTP server (guest reaches it at 10.0.2.2)'}`,
      `VM: ${t.cpus} cpus, ${memoryMiB(t.memory)} MiB, ${diskGiB(t.disk)} GiB ${t.disk_interface} disk, ${t.net_device}`,
      `boot_wait ${t.boot_wait}, then type the boot command (${t.boot_key_interval} between keys)`,
      ...(t.answer_media === 'http' && t.answer_files.length > 0 ? [`wait up to ${t.answer_fetch_timeout} for the installer to fetch ${t.answer_wait_for ?? t.answer_files[0].name ?? t.answer_files[0].template.replace(/\.hbs$/, '')}`] : []),
      `wait up to ${t.ssh.timeout} for SSH as ${t.ssh.username}`,
      ...t.post_install.map((p) => `post-install over SSH: ${p.script ?? `inline (${p.inline!.length} lines)`}`),
      ...provisionerPlanLines(template),
      `shutdown: ${t.shutdown_command}`,
      ...renderedForPlan(template),
    ];
  },
  steps: () => [
    downloadIsoStep,
    httpServerStep,
    createDiskStep,
    bootStep,
    ...[bootWaitStep, typeBootCommandStep, waitForAnswerFetchStep, waitForSshStep, postInstallStep, provisionersStep, installedDisk(shutdownStep)].map(keepVmOnAbort),
  ],
};

/**
 * --dry-run shows what the installer would get: the boot command and every answer file,
 * rendered with sensitive variables masked and the HTTP port shown as HTTP_PORT.
 */
function renderedForPlan(template: LoadedTemplate): string[] {
  checkBootCommand(template);
  const masked = {...template.variables, ...Object.fromEntries(template.sensitive.map((k) => [k, '********']))};
  const http = {httpIp: GUEST_HOST_IP, httpPort: 'HTTP_PORT'};
  const lines = [`boot command: ${renderBootCommand({...template, variables: masked}, http).join('')}`];
  for (const entry of template.definition.answer_files) {
    const text = readFileSync(path.resolve(template.dir, entry.template), 'utf8');
    const content = entry.template.endsWith('.hbs') ? renderString(text, {...masked, ...http}, entry.template) : text;
    const name = entry.name ?? path.basename(entry.template).replace(/\.hbs$/, '');
    lines.push(`answer file ${name}:\n${content.replace(/\n$/, '').split('\n').map((l) => `      | ${l}`).join('\n')}`);
  }
  return lines;
}
