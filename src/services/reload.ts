import {halt} from './halt.js';
import {up, type UpOptions, type UpResult} from './up.js';

/** `box reload` = halt + up (Vagrant's reload): picks up changed cpus, memory and ports. */
export async function reload(options: UpOptions & {force: boolean; timeoutSeconds: number}): Promise<UpResult> {
  await halt(options);
  return up({...options, destroyOnError: false});
}
