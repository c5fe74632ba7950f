// Worker entry: loads a large Boxfile off the main thread (see loadProject), and posts the
// project or the error back. Only ever started by callWorker.
import {parentPort, workerData} from 'node:worker_threads';
import {serializeError, type WorkerReply} from '../core/worker-call.js';
import type {Project} from './project.js';
import {loadLocatedProject, type LocatedProjectOptions} from './load.js';

const reply: WorkerReply<Project> = await loadLocatedProject(workerData as LocatedProjectOptions)
  .then((value) => ({ok: true as const, value}), (error: unknown) => ({ok: false as const, error: serializeError(error)}));
parentPort!.postMessage(reply);
