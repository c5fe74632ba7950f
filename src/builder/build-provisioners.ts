import type {ProvisionerCommon} from '../boxfile/schema.js';
import {absolutizeProvisioner} from '../boxfile/resolve.js';
import type {Communicator, SshInfo} from '../communicators/communicator.js';
import type {Ui} from '../core/ui.js';
import {provisionerLabel, runProvisioners, type ProvisionerResult} from '../provisioners/run-provisioners.js';
import type {LoadedTemplate} from './template.js';

/** A template's `provisioners:` (validated, host paths already absolute). */
export function templateProvisioners(template: LoadedTemplate): ProvisionerCommon[] {
  return template.definition.provisioners as ProvisionerCommon[];
}

/**
 * Runs the template's provisioners in the build VM with the Boxfile's runner: the build VM is
 * one machine named after the template (host-side ansible gets a one-host inventory for it),
 * relative paths resolve against the template's folder, output streams with the template's
 * name as prefix, and the first failure (provisionerFailed: name, task/resource, exit code)
 * propagates, which fails the build.
 */
export async function runTemplateProvisioners(template: LoadedTemplate, guest: {comm: Communicator; ssh: SshInfo; ui: Ui; signal: AbortSignal}): Promise<ProvisionerResult[]> {
  const configs = templateProvisioners(template);
  if (configs.length === 0) return [];
  return runProvisioners({
    comm: guest.comm, ssh: guest.ssh, machine: template.name, ui: guest.ui, signal: guest.signal,
    projectRoot: template.dir, outputPrefix: template.name,
  }, configs);
}

/** --dry-run lines: one per provisioner, as progress names them. */
export function provisionerPlanLines(template: LoadedTemplate): string[] {
  const configs = templateProvisioners(template);
  return configs.map((c, i) => `provisioner [${i + 1}/${configs.length}] over SSH in the build VM: ${provisionerLabel(c)}`);
}

/**
 * The host files and folders the template's provisioners read (scripts, playbooks, manifests,
 * modules, cookbooks...): what the registry marks as host paths, already absolute. The build
 * cache key hashes their content, so a changed manifest rebuilds.
 */
export function provisionerHostPaths(template: LoadedTemplate): string[] {
  const seen: string[] = [];
  for (const p of templateProvisioners(template)) absolutizeProvisioner(p, (file) => { seen.push(file); return file; });
  return [...new Set(seen)];
}
