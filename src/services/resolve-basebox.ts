// OWNER: box store helper. Signature fixed so providers can code against it.
import type {BaseboxRef} from '../boxfile/project.js';
import type {Ui} from '../core/ui.js';

export interface InstalledBox {
  name: string;
  version: string;
  /** Vagrant provider name of the box: 'libvirt' for the qemu target, 'virtualbox', 'aws'. */
  provider: string;
  /** Absolute folder of the box in the store (holds metadata.json, box.img...). */
  dir: string;
  metadata: Record<string, unknown> & {provider: string};
}

/**
 * Finds the box a machine needs in the store (newest version matching the constraint), and adds
 * it first when the Boxfile names a file or URL (or `basebox_url`) and it is not there yet.
 * Throws ERR_BOX_NOT_FOUND with a `box box add` hint otherwise.
 */
export async function resolveBasebox(_ref: BaseboxRef, _options: {provider: string; ui: Ui; signal: AbortSignal}): Promise<InstalledBox> {
  throw new Error('resolveBasebox: not implemented yet');
}
