import {inOneSchemaRebuild, registerBoxfileProvisioner, type ProvisionerConfig} from '../boxfile/schema.js';
import {UsageError} from '../core/errors.js';
import {ansibleLocalProvisioner} from './ansible/ansible-local.js';
import {ansibleProvisioner} from './ansible/ansible.js';
import {chefSoloProvisioner, chefZeroProvisioner} from './chef/chef.js';
import {fileProvisioner} from './file.js';
import {puppetProvisioner} from './puppet/puppet.js';
import type {Provisioner} from './provisioner.js';
import {shellProvisioner} from './shell.js';

// Provisioners by Boxfile `type`.
const provisioners = new Map<string, Provisioner<never>>();

/** `module`: one whose import registers it again (the Boxfile worker thread imports it). */
export function registerProvisioner<C>(provisioner: Provisioner<C>, options: {module?: string} = {}): void {
  provisioners.set(provisioner.type, provisioner as Provisioner<never>);
  if (provisioner.boxfile) registerBoxfileProvisioner({type: provisioner.type, ...provisioner.boxfile, ...(options.module ? {module: options.module} : {})});
}

inOneSchemaRebuild(() => {
  registerProvisioner(shellProvisioner);
  registerProvisioner(fileProvisioner);
  registerProvisioner(ansibleProvisioner, {module: import.meta.url});
  registerProvisioner(ansibleLocalProvisioner, {module: import.meta.url});
  registerProvisioner(puppetProvisioner, {module: import.meta.url});
  registerProvisioner(chefSoloProvisioner, {module: import.meta.url});
  registerProvisioner(chefZeroProvisioner, {module: import.meta.url});
});

export function provisionerTypes(): string[] {
  return [...provisioners.keys()].sort();
}

export function provisionerFor<C extends {type: string} = ProvisionerConfig>(type: string): Provisioner<C> {
  const provisioner = provisioners.get(type);
  if (!provisioner) {
    throw new UsageError('ERR_PROVISIONER_UNKNOWN', `Unknown provisioner type ${JSON.stringify(type)}`, {
      hint: `Known types: ${provisionerTypes().join(', ')}.`,
    });
  }

  return provisioner as unknown as Provisioner<C>;
}
