import {box} from './cli.js';
import {qemuProcesses} from './qemu-processes.js';

/**
 * The end of an e2e file whose project boots qemu guests: `box destroy --force`, then SIGKILL
 * for any QEMU of the project that survived it (whatever happened, none may outlive the test),
 * then the project and BOX_HOME folders go.
 */
export async function removeE2eProject(project: {dir: string; cleanup: () => Promise<void>} | undefined, home: {dir: string; cleanup: () => Promise<void>} | undefined): Promise<void> {
  if (project) {
    await box(['destroy', '--force'], {cwd: project.dir, boxHome: home?.dir}).catch(() => undefined);
    for (const pid of qemuProcesses(project.dir)) process.kill(pid, 'SIGKILL');
    await project.cleanup();
  }
  await home?.cleanup();
}
