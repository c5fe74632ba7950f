import path from 'node:path';
import {watch, type FSWatcher} from 'node:fs';
import {BoxError, InterruptedError, isAbortError} from '../core/errors.js';
import {changeMatters, compileExclude, notGitIgnored} from '../synced-folders/change-filter.js';
import {stateDirRules} from '../synced-folders/rsync-folders.js';
import {openMachines, requireRunning, withMachine, type LifecycleOptions, type MachineHandle} from './lifecycle/machines.js';
import {describeSync, prepareFolderSync, type FolderSyncer, type FolderSyncResult} from './lifecycle/sync-folders.js';

export interface RsyncAutoOptions extends LifecycleOptions {
  /** Quiet time after a change before the copy starts, so a burst of writes (a save, a git checkout) is one sync. */
  debounceMs: number;
}

/** One copy rsync-auto made: at the start (every folder), or after a change. */
export interface AutoSync extends FolderSyncResult {
  machine: string;
  trigger: 'start' | 'change';
}

export interface RsyncAutoResult {
  syncs: AutoSync[];
}

/** A folder of a machine that rsync-auto keeps in sync, and what decides which changes count. */
interface Watched {
  handle: MachineHandle;
  syncer: FolderSyncer;
  index: number;
  excludes: ReturnType<typeof compileExclude>[];
}

/**
 * `box rsync-auto`: copies every rsync folder of the running machines once, then watches the
 * folders on the host and copies a folder again into each machine that syncs it when a change
 * that rsync would copy settles (excluded, .gitignored with `gitignore: true` and .box/ changes
 * are not), until Ctrl-C. The machine locks are not held while it watches (`box up`, `box ssh`
 * work meanwhile); each copy is one rsync run, so a machine halted meanwhile fails that copy.
 * Ends only by an interruption (or a failure), whose error carries the copies made.
 */
export async function rsyncAuto(options: RsyncAutoOptions): Promise<RsyncAutoResult> {
  const {handles} = await openMachines(options);
  const watched: Watched[] = [];
  const syncers: FolderSyncer[] = [];
  try {
    return await watchAndSync(options, handles, watched, syncers);
  } finally {
    // The shared SSH connections end with the command, whatever ended it.
    for (const syncer of syncers) await syncer.close().catch(() => undefined);
  }
}

async function watchAndSync(options: RsyncAutoOptions, handles: MachineHandle[], watched: Watched[], syncers: FolderSyncer[]): Promise<RsyncAutoResult> {
  const {ui, signal} = options;
  for (const handle of handles) {
    await withMachine(handle, () => requireRunning(handle, 'its folders sync into a running guest'));
    const syncer = await prepareFolderSync(handle);
    if (syncer) syncers.push(syncer);
    if (!syncer) {
      ui.info(`${handle.machine.name}: no rsync folders; not watched.`);
      continue;
    }
    syncer.folders.forEach((folder, index) => watched.push({
      handle, syncer, index,
      excludes: [...stateDirRules(folder.source, path.dirname(handle.ctx.project.boxfilePath)), ...folder.exclude].map(compileExclude),
    }));
  }
  if (watched.length === 0) {
    throw new BoxError('ERR_NO_RSYNC_FOLDERS', 'No machine of this selection has an rsync synced folder; nothing to watch.', {
      hint: 'Add `synced_folders` (type rsync, the default) to the Boxfile.',
    });
  }

  const syncs: AutoSync[] = [];
  const copy = async (w: Watched, trigger: AutoSync['trigger']): Promise<void> => {
    const result = await w.syncer.sync(w.index, signal);
    syncs.push({machine: w.handle.machine.name, trigger, ...result});
    ui.info(`${w.handle.machine.name}: ${result.destination}: ${describeSync(result)}`);
  };
  const interrupted = (): InterruptedError => {
    const error = signal.reason instanceof InterruptedError ? signal.reason : new InterruptedError();
    error.partialResult = {syncs};
    return error;
  };

  try {
    ui.stage('rsync', 'every folder once');
    for (const w of watched) await copy(w, 'start');
  } catch (error) {
    if (signal.aborted || isAbortError(error)) throw interrupted();
    throw error;
  }

  // Changed paths per watched folder, gathered until the changes settle.
  const pending = new Map<Watched, Set<string>>();
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let failed: unknown;
  let wake: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => { wake = resolve; });

  const flush = async (): Promise<void> => {
    const batch = [...pending];
    pending.clear();
    for (const [w, paths] of batch) {
      const folder = w.syncer.folders[w.index]!;
      const relevant = folder.gitignore ? await notGitIgnored(folder.source, [...paths], signal) : [...paths];
      if (relevant.length === 0) continue;
      await copy(w, 'change');
    }
  };
  const schedule = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      // One copy round at a time; changes meanwhile wait for the next round.
      running = running.then(flush).catch((error: unknown) => {
        failed = error;
        wake();
      });
    }, options.debounceMs);
  };

  const sources = new Map<string, Watched[]>();
  for (const w of watched) sources.set(w.syncer.folders[w.index]!.source, [...(sources.get(w.syncer.folders[w.index]!.source) ?? []), w]);
  for (const [source, list] of sources) {
    const watcher = watch(source, {recursive: true}, (_event, filename) => {
      const relative = filename === null ? '.' : String(filename);
      for (const w of list) {
        if (relative !== '.' && !changeMatters(source, relative, w.excludes)) continue;
        pending.set(w, (pending.get(w) ?? new Set()).add(relative));
        schedule();
      }
    });
    watcher.on('error', (error) => {
      failed = new BoxError('ERR_WATCH', `Watching ${source} failed: ${error.message}`);
      wake();
    });
    watchers.push(watcher);
  }
  ui.stage('rsync-auto', `watching ${[...sources.keys()].join(', ')} (Ctrl-C stops)`);

  const onAbort = (): void => wake();
  signal.addEventListener('abort', onAbort, {once: true});
  try {
    await stopped;
  } finally {
    signal.removeEventListener('abort', onAbort);
    clearTimeout(timer);
    for (const watcher of watchers) watcher.close();
    // A copy under way was cancelled by the same signal; its rsync has ended when this settles.
    await running;
  }
  if (signal.aborted && (failed === undefined || isAbortError(failed) || failed instanceof InterruptedError)) throw interrupted();
  if (failed instanceof BoxError) failed.partialResult = {syncs};
  throw failed;
}
