// OWNER: boxfile helper. Signature fixed so other areas can code against it.
import {existsSync} from 'node:fs';
import {stat} from 'node:fs/promises';
import path from 'node:path';
import {builtInDefaults} from './defaults.js';
import {locateBoxfile} from './find.js';
import {machineCountIssues, semanticIssues} from './checks.js';
import {boxfileLimits} from './limits.js';
import {didYouMean, formatPath, issuesFromZod, throwIfIssues, type BoxfileIssue, type IssuePath} from './issues.js';
import {withoutExtensions} from './json-schema.js';
import {isObject} from './locations.js';
import {mergeSettings, settingsOnly} from './merge.js';
import {originOf, portClashIssues, type LayerOrigin} from './port-clashes.js';
import {privateIpIssues} from './network-clashes.js';
import type {MachineConfig, Project} from './project.js';
import {instanceProjectName, instanceRoot, sanitizeInstanceId} from './instance.js';
import {absolutizeLayer, baseboxOptional, toMachineConfig} from './resolve.js';
import {boxfileSchema, canonicalTarget, defaultTargetName, registeredBoxfileTargets, targetAlias, targetModules, targetNames, userConfigSchema, type MachineSettings, type TargetInput} from './schema.js';
import {displayPath, locate, readSource, type SourceFile} from './source.js';
import {throwIfAborted, UsageError} from '../core/errors.js';
import {callWorker, workerEntry} from '../core/worker-call.js';
import {userPaths} from '../core/paths.js';
import {withClones} from './clones.js';

export interface LoadProjectOptions {
  /** Where to start looking for a Boxfile (walks up to the filesystem root, like Vagrant). */
  cwd: string;
  /** An explicit Boxfile path (--boxfile / BOX_BOXFILE); no walking up then. */
  boxfile?: string;
  /** Environment overlay to apply (--env). */
  env?: string;
  /** Overrides the target of every machine (--target; kvm and libvirt are qemu). */
  target?: TargetInput;
  /** Ctrl-C / SIGTERM: stops loading a large Boxfile at once. */
  signal?: AbortSignal;
  /** Load as this instance of the project (--instance, `box ci`): see boxfile/instance.ts. */
  instance?: string;
  /** A clone being made now that the Boxfile may not declare (NAME → SOURCE): see clones.ts. */
  clones?: Record<string, string>;
}

/** What the loading itself needs once the Boxfile is found (plain data: it crosses to a worker). */
export interface LocatedProjectOptions {
  cwd: string;
  boxfilePath: string;
  env?: string;
  target?: TargetInput;
  instance?: string;
  /** Worker only: modules to import first so that it knows this thread's targets (see BoxfileTargetPlugin.module). */
  targetModules?: string[];
}

/**
 * Boxfiles larger than this load in a worker thread. Loading costs about 2-3 ms of CPU per KiB
 * (parse, schema, merge), so a real Boxfile of a few KiB loads in place, and anything whose
 * load could hold the main thread long enough to delay Ctrl-C goes to a worker, whose start
 * (~50 ms) is then small next to the load.
 */
const IN_THREAD_MAX_BYTES = 64 * 1024;

/** Reads, parses and validates one file; returns its issues (syntax, schema, semantic). */
async function loadSource(file: string, display: string, kind: 'boxfile' | 'config'): Promise<{source: SourceFile; issues: BoxfileIssue[]}> {
  const {source, issues} = await readSource(file, display);
  if (issues.length > 0) return {source, issues};
  if (!isObject(source.data)) {
    const pos = locate(source, []);
    return {source, issues: [{file: display, line: pos.line, column: pos.column, path: '', message: `the ${kind === 'boxfile' ? 'Boxfile' : 'config file'} must be a mapping of settings such as "basebox: debian-12"`}]};
  }
  if (kind === 'boxfile') {
    const tooMany = machineCountIssues(source, boxfileLimits.maxMachines);
    if (tooMany.length > 0) return {source, issues: tooMany};
    source.data = withoutExtensions(source.data as Record<string, unknown>);
  }
  const schema = kind === 'boxfile' ? boxfileSchema : userConfigSchema;
  const parsed = schema.safeParse(source.data);
  let schemaIssues = parsed.success ? [] : issuesFromZod(parsed.error, source, schema);
  if (kind === 'config') {
    // Project-only sections are a misunderstanding rather than a typo: say so.
    schemaIssues = schemaIssues.map((i) => (['name', 'machines', 'environments'].includes(i.path) && i.message.startsWith('unknown key')
      ? {...i, message: 'is only allowed in a Boxfile, not in the user config'} : i));
  }
  const machineNames = kind === 'boxfile' ? machineNamesOf(source.data as Record<string, unknown>) : undefined;
  return {source, issues: [...schemaIssues, ...semanticIssues(source, {machineNames})]};
}

function machineNamesOf(data: Record<string, unknown>): string[] {
  return isObject(data.machines) && Object.keys(data.machines).length > 0 ? Object.keys(data.machines) : ['default'];
}

/**
 * Loads, fills defaults, validates (all errors at once, exit 2) and resolves the project. Large
 * Boxfiles load in a worker thread so that the main thread, where signal listeners run, is
 * never busy for long; `signal` stops that load at once.
 */
export async function loadProject(options: LoadProjectOptions): Promise<Project> {
  throwIfAborted(options.signal);
  // A bug, not a user error: every name would be refused as an unknown target.
  if (targetNames().length === 0) throw new Error('no target is registered: import providers/registry.js before loading a Boxfile');
  const cwd = path.resolve(options.cwd);
  const located: LocatedProjectOptions = {
    cwd, boxfilePath: locateBoxfile(cwd, options.boxfile), env: options.env, target: options.target,
    ...(options.instance === undefined ? {} : {instance: sanitizeInstanceId(options.instance)}),
  };
  const size = (await stat(located.boxfilePath)).size + (await stat(userPaths.config()).catch(() => ({size: 0}))).size;
  const project = size <= IN_THREAD_MAX_BYTES ? await loadLocatedProject(located)
    : await callWorker<Project>(workerEntry('boxfile/load-worker'), {...located, targetModules: targetModules()}, {signal: options.signal, what: `loading ${located.boxfilePath}`});
  // Machines made by `box up NAME --from SOURCE` that the Boxfile does not declare.
  return withClones(project, options.clones);
}

/** loadProject once the Boxfile is found: here, or in the worker. */
export async function loadLocatedProject({cwd, boxfilePath, ...options}: LocatedProjectOptions): Promise<Project> {
  const root = path.dirname(boxfilePath);
  const issues: BoxfileIssue[] = [];

  const boxfile = await loadSource(boxfilePath, displayPath(boxfilePath, cwd), 'boxfile');
  issues.push(...boxfile.issues);
  const configPath = userPaths.config();
  const config = existsSync(configPath) ? await loadSource(configPath, displayPath(configPath, cwd, true), 'config') : undefined;
  if (config) issues.push(...config.issues);
  throwIfIssues(issues, issues.some((i) => i.message.startsWith('YAML syntax error'))
    ? 'Fix the YAML at the positions shown: indent with spaces, close every { and [, quote values that contain ": " or " #".'
    : undefined);

  const data = boxfile.source.data as Record<string, unknown>;
  const environments = isObject(data.environments) ? data.environments : {};
  if (options.env !== undefined && !Object.hasOwn(environments, options.env)) {
    const names = Object.keys(environments);
    const suggestion = didYouMean(options.env, names);
    throw new UsageError('ERR_UNKNOWN_ENV', `Unknown environment ${JSON.stringify(options.env)} in ${boxfile.source.display}.`, {
      hint: names.length === 0 ? 'This Boxfile defines no environments; drop --env or add an `environments:` section.'
        : `${suggestion ? `Did you mean ${JSON.stringify(suggestion)}? ` : ''}Environments: ${names.join(', ')}.`,
    });
  }
  // An empty overlay (`prod:`) is allowed: it selects the environment and changes nothing.
  const overlay = options.env === undefined ? undefined : (environments[options.env] ?? {}) as Record<string, unknown>;

  // Layers, lowest first: built-in < ~/.box/config.yaml < Boxfile < machine < env < env machine < flags.
  const machineNames = machineNamesOf(data);
  const defaults = builtInDefaults() as Record<string, unknown>;
  const userLayer = config ? absolutizeLayer(config.source.data as MachineSettings, path.dirname(configPath)) as Record<string, unknown> : undefined;
  const abs = (settings: unknown): Record<string, unknown> => absolutizeLayer((settings ?? {}) as MachineSettings, root) as Record<string, unknown>;
  const top = abs(settingsOnly(data));
  const overlayTop = overlay ? abs(settingsOnly(overlay)) : undefined;
  const resolveIssues: BoxfileIssue[] = [];
  const machines: MachineConfig[] = [];
  // Where each machine's settings are written, highest layer first (for positions of errors
  // found only once layers merge).
  const layersOf = (name: string): LayerOrigin[] => {
    const layer = (source: SourceFile, segments: IssuePath, settings: unknown): LayerOrigin[] => (isObject(settings) ? [{source, segments, settings}] : []);
    return [
      ...(overlay && options.env !== undefined ? [
        ...layer(boxfile.source, ['environments', options.env, 'machines', name], isObject(overlay.machines) ? overlay.machines[name] : undefined),
        ...layer(boxfile.source, ['environments', options.env], settingsOnly(overlay)),
      ] : []),
      ...layer(boxfile.source, ['machines', name], isObject(data.machines) ? data.machines[name] : undefined),
      ...layer(boxfile.source, [], settingsOnly(data)),
      ...(config ? layer(config.source, [], config.source.data) : []),
    ];
  };
  for (const name of machineNames) {
    const layers: Array<Record<string, unknown>> = [
      defaults,
      ...(userLayer ? [userLayer] : []),
      top,
      abs(isObject(data.machines) ? data.machines[name] : undefined),
      ...(overlay && overlayTop ? [overlayTop, abs(isObject(overlay.machines) ? overlay.machines[name] : undefined)] : []),
      ...(options.target ? [{target: options.target}] : []),
    ];
    // Cloned so machines never share nested objects (a provider may adjust its own copy).
    const merged = structuredClone(layers.reduce((acc, layer) => mergeSettings(acc, layer), {})) as MachineSettings;
    if (!merged.basebox && !baseboxOptional(merged)) {
      // Required after merging: point at the machine's mapping (or the top of the Boxfile).
      const segments = isObject(data.machines) && Object.hasOwn(data.machines, name) ? ['machines', name] : [];
      const pos = locate(boxfile.source, [...segments, 'basebox']);
      resolveIssues.push({file: boxfile.source.display, line: pos.line, column: pos.column, path: formatPath([...segments, 'basebox']),
        message: `is required for the ${canonicalTarget(merged.target ?? defaultTargetName())} target: set basebox at the top of the Boxfile${segments.length > 0 ? ` or under machines.${name}` : ''} (e.g. "basebox: debian-12")${baseboxOptionalNote()}`});
      continue;
    }
    const contradiction = aliasContradiction(merged, options.target, layersOf(name));
    if (contradiction) {
      resolveIssues.push(contradiction);
      continue;
    }
    const byUser = layers.slice(1).reduce((acc, layer) => mergeSettings(acc, layer), {});
    const entry = isObject(data.machines) && isObject(data.machines[name]) ? data.machines[name] : {};
    const dependsOn = Array.isArray(entry.depends_on) ? entry.depends_on as string[] : [];
    const roles = Array.isArray(entry.roles) ? entry.roles as string[] : undefined;
    machines.push({
      ...toMachineConfig(name, merged, root, options.target ? '--target' : 'target'),
      ...(dependsOn.length > 0 ? {dependsOn} : {}), ...(roles ? {roles} : {}),
      setByUser: leafPaths(byUser),
    });
  }
  resolveIssues.push(...portClashIssues(machines, layersOf), ...privateIpIssues(machines, layersOf));
  throwIfIssues(resolveIssues);

  const name = typeof data.name === 'string' ? data.name : path.basename(root);
  return {
    // Only the identity moves: every host path above was resolved against the Boxfile's folder.
    root: options.instance === undefined ? root : instanceRoot(root, options.instance),
    boxfilePath,
    name: options.instance === undefined ? name : instanceProjectName(name, options.instance),
    ...(options.instance === undefined ? {} : {instance: options.instance}),
    ...(options.env === undefined ? {} : {environment: options.env}),
    machines,
  };
}

/** "; only an aws machine with targets.aws.ami or ami_filter can do without" (from the targets that can). */
function baseboxOptionalNote(): string {
  const cases = registeredBoxfileTargets().flatMap((t) => (t.baseboxOptional ? [t.baseboxOptional.when] : []));
  return cases.length > 0 ? `; only ${cases.join(' or ')} can do without` : '';
}

/**
 * A setting the Boxfile writes against what its target alias forces (`target: kvm` with
 * `targets.qemu.accel: tcg`), at the setting. `--target kvm` is the highest layer and simply
 * wins.
 */
function aliasContradiction(merged: MachineSettings, flagTarget: string | undefined, layers: readonly LayerOrigin[]): BoxfileIssue | undefined {
  const alias = merged.target === undefined ? undefined : targetAlias(merged.target);
  if (!alias?.contradictions || flagTarget === alias.name) return undefined;
  const written = (merged.targets as Record<string, Record<string, unknown> | undefined> | undefined)?.[alias.target] ?? {};
  for (const [key, refused] of Object.entries(alias.contradictions.values)) {
    if (!refused.includes(written[key])) continue;
    const origin = originOf(layers, ['targets', alias.target, key]);
    if (!origin) continue;
    const segments = [...origin.segments, 'targets', alias.target, key];
    const pos = locate(origin.source, segments);
    return {file: origin.source.display, line: pos.line, column: pos.column, path: formatPath(segments), got: JSON.stringify(written[key]),
      message: `contradicts target: ${alias.name} (${alias.note}); ${alias.contradictions.hint}`};
  }
  return undefined;
}

/** Picks machines by name (all when `names` is empty); unknown names are a usage error with did-you-mean. */
export function selectMachines(project: Project, names: string[]): MachineConfig[] {
  if (names.length === 0) return project.machines;
  const known = project.machines.map((m) => m.name);
  return [...new Set(names)].map((name) => {
    const machine = project.machines.find((m) => m.name === name);
    if (machine) return machine;
    const suggestion = didYouMean(name, known);
    throw new UsageError('ERR_UNKNOWN_MACHINE', `No machine named ${JSON.stringify(name)} in ${path.basename(project.boxfilePath)}.`, {
      hint: `${suggestion ? `Did you mean ${JSON.stringify(suggestion)}? ` : ''}Machines: ${known.join(', ')}.`,
    });
  });
}

/**
 * For commands that also work outside a project (sweep, image push/pull, build --target aws):
 * the project when there is a Boxfile, undefined when there is none. A Boxfile that does not
 * validate is still an error: silently ignoring it would use the wrong region or endpoint.
 */
export async function loadProjectIfAny(options: LoadProjectOptions): Promise<Project | undefined> {
  try {
    return await loadProject(options);
  } catch (error) {
    if (error instanceof UsageError && error.code === 'ERR_BOXFILE_NOT_FOUND' && !options.boxfile) return undefined;
    throw error;
  }
}

/** Dotted paths of the leaves (values that are not plain objects) of a settings object; `__` side keys left out. */
function leafPaths(settings: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(settings).filter(([key]) => !key.startsWith('__'))
    .flatMap(([key, value]) => (isObject(value) ? leafPaths(value, `${prefix}${key}.`) : [`${prefix}${key}`]));
}
