import {registerBoxfileProvisioner, type ProvisionerConfig} from '../boxfile/schema.js';
import {UsageError} from '../core/errors.js';
import {fileProvisioner} from './file.js';
import type {Provisioner} from './provisioner.js';
import {shellProvisioner} from './shell.js';

// Provisioners by Boxfile `type`. ansible, puppet and chef-solo register here when they exist.
const provisioners = new Map<string, Provisioner<never>>();

export function registerProvisioner<C>(provisioner: Provisioner<C>): void {
  provisioners.set(provisioner.type, provisioner as Provisioner<never>);
  if (provisioner.boxfile) registerBoxfileProvisioner({type: provisioner.type, ...provisioner.boxfile});
}

registerProvisioner(shellProvisioner);
registerProvisioner(fileProvisioner);

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
