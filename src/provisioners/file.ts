import {stat} from 'node:fs/promises';
import path from 'node:path';
import {fileProvisionerSchema, type FileProvisionerConfig} from '../boxfile/schema.js';
import {BoxError} from '../core/errors.js';
import type {Provisioner} from './provisioner.js';

/**
 * Copies a file or a folder from the host into the guest (as the SSH user, over SFTP).
 * `source` resolves against the project root; `~` in `destination` is the SSH user's home.
 * A folder's contents land in `destination` (created if needed); file modes are kept.
 */
export const fileProvisioner: Provisioner<FileProvisionerConfig> = {
  type: 'file',
  boxfile: {schema: fileProvisionerSchema},
  describe: (config) => `file ${config.source} → ${config.destination}`,
  async provision(ctx, config) {
    const source = path.resolve(ctx.projectRoot, config.source);
    try {
      await stat(source);
    } catch {
      throw new BoxError('ERR_PROVISION_SOURCE_MISSING', `File provisioner source ${JSON.stringify(config.source)} not found (looked at ${source})`, {
        hint: 'Paths in the Boxfile\'s provisioners are relative to the folder holding the Boxfile.',
      });
    }

    await ctx.comm.upload(source, config.destination, {signal: ctx.signal});
  },
};
