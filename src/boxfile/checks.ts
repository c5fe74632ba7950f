import {existsSync} from 'node:fs';
import path from 'node:path';
import {parseBasebox, parseBaseboxUrl} from './basebox.js';
import {didYouMean, formatPath, formatValue, getAt, type BoxfileIssue, type IssuePath} from './issues.js';
import {isObject, settingsLocations} from './locations.js';
import {expandHome, provisionerHostFileFields} from './resolve.js';
import {registeredBoxfileTargets} from './schema.js';
import {locate, type SourceFile} from './source.js';

/**
 * More machines than box reads (see limits.ts), in the Boxfile or an environment: checked
 * before the schema, so a 700 000-machine file is refused at once rather than validated.
 */
export function machineCountIssues(source: SourceFile, maxMachines: number): BoxfileIssue[] {
  const issues: BoxfileIssue[] = [];
  if (!isObject(source.data)) return issues;
  const check = (segments: IssuePath, machines: unknown): void => {
    if (!isObject(machines)) return;
    let count = 0;
    for (const _ in machines) count++;
    if (count <= maxMachines) return;
    const pos = locate(source, segments, 'key');
    issues.push({file: source.display, line: pos.line, column: pos.column, path: formatPath(segments), message: `declares ${count} machines; box reads at most ${maxMachines}`});
  };
  check(['machines'], source.data.machines);
  if (isObject(source.data.environments)) {
    for (const [env, overlay] of Object.entries(source.data.environments)) {
      if (isObject(overlay)) check(['environments', env, 'machines'], overlay.machines);
    }
  }
  return issues;
}

/**
 * Checks zod cannot express: basebox syntax and version constraints, synced folders,
 * provisioner files and private keys that do not exist (relative to the file that names them), and
 * environment overlays naming machines the project does not have. They run on every place a
 * value is written, even when other parts of the file are invalid, so one run shows everything.
 */
export function semanticIssues(source: SourceFile, options: {machineNames?: string[]} = {}): BoxfileIssue[] {
  const issues: BoxfileIssue[] = [];
  const baseDir = path.dirname(source.path);
  const onHost = (file: string): string => path.resolve(baseDir, expandHome(file));
  const add = (segments: IssuePath, message: string, got?: unknown, target: 'key' | 'value' = 'value'): void => {
    const pos = locate(source, segments, target);
    issues.push({file: source.display, line: pos.line, column: pos.column, path: formatPath(segments), message, ...(got === undefined ? {} : {got: formatValue(got)})});
  };

  for (const {segments, settings} of settingsLocations(source.data)) {
    if (typeof settings.basebox === 'string' && settings.basebox.trim() !== '') {
      const parsed = parseBasebox(settings.basebox, baseDir);
      if (!parsed.ok) add([...segments, 'basebox'], parsed.message, settings.basebox);
    }
    if (typeof settings.basebox_url === 'string') {
      const parsed = parseBaseboxUrl(settings.basebox_url, baseDir);
      if (!parsed.ok) add([...segments, 'basebox_url'], parsed.message, settings.basebox_url);
    }

    if (Array.isArray(settings.forwarded_ports)) {
      const seen = new Map<string, number>();
      settings.forwarded_ports.forEach((port, index) => {
        if (!isObject(port) || typeof port.host !== 'number') return;
        const protocol = typeof port.protocol === 'string' ? port.protocol : 'tcp';
        const key = `${protocol}/${port.host}`;
        const first = seen.get(key);
        if (first === undefined) seen.set(key, index);
        else add([...segments, 'forwarded_ports', index, 'host'], `host port ${port.host}/${protocol} is already forwarded by ${formatPath([...segments, 'forwarded_ports', first])}`, port.host);
      });
    }

    if (Array.isArray(settings.synced_folders)) {
      settings.synced_folders.forEach((folder, index) => {
        if (!isObject(folder) || typeof folder.source !== 'string' || folder.source === '') return;
        const absolute = onHost(folder.source);
        if (!existsSync(absolute)) add([...segments, 'synced_folders', index, 'source'], `no such folder ${absolute}`, folder.source);
      });
      // A shared folder is the host folder itself: nothing to leave out of a copy, and its files
      // keep the owners they have (the copy settings would be accepted and never honoured).
      settings.synced_folders.forEach((folder, index) => {
        if (!isObject(folder) || (folder.type !== '9p' && folder.type !== 'virtiofs')) return;
        for (const key of ['exclude', 'gitignore', 'owner', 'group'] as const) {
          if (folder[key] === undefined) continue;
          const why = key === 'exclude' || key === 'gitignore' ? 'use type: rsync to leave files out' : 'its files keep their owners; use type: rsync to set them';
          add([...segments, 'synced_folders', index, key], `applies to rsync folders only: a ${folder.type} folder shares the whole host folder (${why})`, folder[key]);
        }
      });
    }

    // A key named explicitly must be there: otherwise `up` boots the machine and then fails to log in.
    const targetFiles = registeredBoxfileTargets().flatMap((t) => (t.hostFiles ?? []).map((field) => ['targets', t.name, field]));
    for (const keyPath of [['ssh', 'private_key_path'], ...targetFiles]) {
      const file = getAt(settings, keyPath);
      if (typeof file !== 'string' || file === '') continue;
      const absolute = onHost(file);
      if (!existsSync(absolute)) add([...segments, ...keyPath], `no such file ${absolute}`, file);
    }

    if (Array.isArray(settings.provisioners)) {
      settings.provisioners.forEach((p, index) => {
        if (!isObject(p)) return;
        const fields = provisionerHostFileFields(String(p.type));
        for (const field of fields) {
          const file = p[field];
          if (typeof file !== 'string' || file === '') continue;
          const absolute = onHost(file);
          if (!existsSync(absolute)) add([...segments, 'provisioners', index, field], `no such file ${absolute}`, file);
        }
      });
    }
  }

  if (options.machineNames && isObject(source.data) && isObject(source.data.machines)) {
    for (const issue of dependencyIssues(source.data.machines, options.machineNames)) add(issue.segments, issue.message, issue.got);
  }

  // An environment that configures a machine the project does not define is almost surely a typo.
  if (options.machineNames && isObject(source.data) && isObject(source.data.environments)) {
    const known = new Set(options.machineNames);
    // Suggestions compare a name with every machine: keep that to small projects.
    const suggest = options.machineNames.length <= 1000;
    for (const [env, overlay] of Object.entries(source.data.environments)) {
      if (!isObject(overlay) || !isObject(overlay.machines)) continue;
      for (const name of Object.keys(overlay.machines)) {
        if (known.has(name)) continue;
        const suggestion = suggest ? didYouMean(name, options.machineNames) : undefined;
        add(['environments', env, 'machines', name], `unknown machine (${suggestion ? `did you mean ${suggestion}?` : suggest ? `machines are: ${options.machineNames.join(', ')}` : 'not a machine of this Boxfile'})`, undefined, 'key');
      }
    }
  }
  return issues;
}

/**
 * `depends_on` must name other machines of the Boxfile, and must not go round in a circle
 * (web → app → web): the lifecycle commands would wait for ever. A cycle is reported once, at
 * the entry that closes it.
 */
function dependencyIssues(machines: Record<string, unknown>, machineNames: string[]): Array<{segments: IssuePath; message: string; got?: unknown}> {
  const issues: Array<{segments: IssuePath; message: string; got?: unknown}> = [];
  const known = new Set(machineNames);
  const edges = new Map<string, Array<{name: string; index: number}>>();
  for (const [machine, entry] of Object.entries(machines)) {
    if (!isObject(entry) || !Array.isArray(entry.depends_on)) continue;
    const valid: Array<{name: string; index: number}> = [];
    entry.depends_on.forEach((name: unknown, index: number) => {
      if (typeof name !== 'string') return;
      const segments = ['machines', machine, 'depends_on', index];
      if (name === machine) issues.push({segments, message: 'a machine cannot depend on itself', got: name});
      else if (!known.has(name)) {
        // Suggestions compare a name with every machine: keep that to small projects.
        const suggestion = machineNames.length <= 1000 ? didYouMean(name, machineNames) : undefined;
        issues.push({segments, message: `unknown machine (${suggestion ? `did you mean ${suggestion}?` : machineNames.length <= 1000 ? `machines are: ${machineNames.join(', ')}` : 'not a machine of this Boxfile'})`, got: name});
      } else valid.push({name, index});
    });
    edges.set(machine, valid);
  }
  // Depth-first search, iterative (a Boxfile may chain thousands of machines); a machine met
  // again while still on the path closes a cycle.
  const state = new Map<string, 'on-path' | 'done'>();
  for (const root of edges.keys()) {
    if (state.has(root)) continue;
    const path: Array<{machine: string; next: number}> = [{machine: root, next: 0}];
    state.set(root, 'on-path');
    while (path.length > 0) {
      const top = path.at(-1)!;
      const edge = edges.get(top.machine)?.[top.next++];
      if (!edge) {
        state.set(top.machine, 'done');
        path.pop();
      } else if (state.get(edge.name) === 'on-path') {
        const names = path.map((p) => p.machine);
        const cycle = [...names.slice(names.indexOf(edge.name)), edge.name];
        issues.push({segments: ['machines', top.machine, 'depends_on', edge.index], message: `depends_on makes a cycle: ${cycle.join(' → ')}; the machines would wait for each other for ever`, got: edge.name});
      } else if (!state.has(edge.name)) {
        state.set(edge.name, 'on-path');
        path.push({machine: edge.name, next: 0});
      }
    }
  }
  return issues;
}
