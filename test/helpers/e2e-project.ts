import {box} from './cli.js';
import {qemuProcesses} from './qemu-processes.js';

/**
 * The end of an e2e file whose project (or projects, sharing one BOX_HOME) boots qemu guests: `box destroy --force`, then SIGKILL
 * for any QEMU of the project that survived it (whatever happened, none may outlive the test),
 * then the project and BOX_HOME folders go.
 */
type Folder = {dir: string; cleanup: () => Promise<void>};

export async function removeE2eProject(projects: Folder | ReadonlyArray<Folder | undefined> | undefined, home: Folder | undefined): Promise<void> {
  for (const project of Array.isArray(projects) ? projects : [projects]) {
    if (!project) continue;
    await box(['destroy', '--force'], {cwd: project.dir, boxHome: home?.dir}).catch(() => undefined);
    for (const pid of qemuProcesses(project.dir)) process.kill(pid, 'SIGKILL');
    await project.cleanup();
  }
  await home?.cleanup();
}
