// Worker entry: loads a large Boxfile off the main thread (see loadProject), and posts the
// project or the error back. Only ever started by callWorker. Registrations do not cross
// threads: the modules that registered the caller's targets are imported here first.
import {parentPort, workerData} from 'node:worker_threads';
import {serializeError, type WorkerReply} from '../core/worker-call.js';
import type {Project} from './project.js';
import {loadLocatedProject, type LocatedProjectOptions} from './load.js';

const options = workerData as LocatedProjectOptions;
const reply: WorkerReply<Project> = await Promise.all((options.targetModules ?? []).map((module) => import(module)))
  .then(() => loadLocatedProject(options))
  .then((value) => ({ok: true as const, value}), (error: unknown) => ({ok: false as const, error: serializeError(error)}));
parentPort!.postMessage(reply);
