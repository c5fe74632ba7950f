import path from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';
import {Worker} from 'node:worker_threads';
import {BoxError, InterruptedError, UsageError} from './errors.js';
import {packageRoot} from './package-root.js';

/** What a worker entry posts back: its result, or its error in a form that crosses threads. */
export type WorkerReply<T> = {ok: true; value: T} | {ok: false; error: SerializedError};

type SerializedError =
  | {box: true; code: string; message: string; hint?: string; exitCode: number; details?: Record<string, unknown>}
  | {box: false; message: string; stack?: string};

export function serializeError(error: unknown): SerializedError {
  if (error instanceof BoxError) return {box: true, code: error.code, message: error.message, hint: error.hint, exitCode: error.exitCode, details: error.details};
  const err = error instanceof Error ? error : new Error(String(error));
  return {box: false, message: err.message, stack: err.stack};
}

function deserializeError(error: SerializedError): Error {
  if (!error.box) return Object.assign(new Error(error.message), {stack: error.stack});
  const options = {hint: error.hint, details: error.details};
  return error.exitCode === 2 ? new UsageError(error.code, error.message, options) : new BoxError(error.code, error.message, {...options, exitCode: error.exitCode});
}

/**
 * A worker entry by its path under src/ without extension ("boxfile/load-worker"): dist/'s
 * bundle entry (scripts/build.mjs makes one per worker entry) when this code runs from the
 * bundle, the `.ts` source when it runs from source (tests, bin/dev.js, through tsx). Found from
 * the package root, not from the caller's file: in the bundle the caller sits in a shared chunk.
 */
export function workerEntry(modulePath: string): URL {
  const fromSource = path.extname(fileURLToPath(import.meta.url)) === '.ts';
  return pathToFileURL(path.join(packageRoot(), fromSource ? 'src' : 'dist', `${modulePath}${fromSource ? '.ts' : '.js'}`));
}

/**
 * Runs a worker entry with `data` and resolves with what it posts. The main thread's event
 * loop stays free meanwhile, so Ctrl-C and SIGTERM are handled at once: `signal` terminates
 * the worker and rejects with the interrupt.
 */
export function callWorker<T>(entry: URL, data: unknown, options: {signal?: AbortSignal; what: string}): Promise<T> {
  const {signal, what} = options;
  if (signal?.aborted) return Promise.reject(interruptOf(signal));
  return new Promise<T>((resolve, reject) => {
    const worker = startWorker(entry, data);
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = (): void => {
      settle(() => reject(interruptOf(signal!)));
      void worker.terminate();
    };
    signal?.addEventListener('abort', onAbort, {once: true});
    worker.once('message', (reply: WorkerReply<T>) => settle(() => (reply.ok ? resolve(reply.value) : reject(deserializeError(reply.error)))));
    worker.once('error', (error: Error & {code?: string}) => settle(() => reject(error.code === 'ERR_WORKER_OUT_OF_MEMORY'
      ? new BoxError('ERR_OUT_OF_MEMORY', `${what[0].toUpperCase()}${what.slice(1)} ran out of memory.`, {hint: 'Make the input smaller, or give Node more memory (NODE_OPTIONS=--max-old-space-size=8192).'})
      : error)));
    worker.once('exit', (code) => settle(() => reject(new Error(`${what} stopped (worker exit code ${code}) before answering`))));
  });
}

function startWorker(entry: URL, data: unknown): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, {workerData: data});
  // Running from TypeScript source (bin/dev.js, tests): Node 20 does not carry the process's
  // --import tsx hooks into worker threads, so the worker registers tsx before loading the entry.
  const tsx = import.meta.resolve('tsx/esm/api');
  const script = `import(${JSON.stringify(tsx)}).then(({register}) => { register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(script, {eval: true, workerData: data});
}

function interruptOf(signal: AbortSignal): Error {
  return signal.reason instanceof InterruptedError ? signal.reason : new InterruptedError();
}
