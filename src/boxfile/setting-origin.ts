import {existsSync} from 'node:fs';
import {userPaths} from '../core/paths.js';
import {formatPath, formatValue, getAt, isSecretPath, type BoxfileIssue, type IssuePath} from './issues.js';
import {isObject} from './locations.js';
import {displayPath, locate, readSource, type SourceFile} from './source.js';

/** The project a merged machine setting came from: the Boxfile and the environment applied. */
export interface SettingProject {
  boxfilePath: string;
  environment?: string;
}

/** The mappings that can set a machine's settings, the most specific (winning) layer first. */
function layersOf(data: unknown, machine: string, environment: string | undefined): IssuePath[] {
  const layers: IssuePath[] = [];
  if (environment !== undefined) layers.push(['environments', environment, 'machines', machine], ['environments', environment]);
  layers.push(['machines', machine], []);
  return layers.filter((l) => l.length === 0 || isObject(getAt(data, l)));
}

/** How many leading segments of `segments` exist under `layer`. */
function existingDepth(data: unknown, layer: IssuePath, segments: IssuePath): number {
  let depth = 0;
  while (depth < segments.length && getAt(data, [...layer, ...segments.slice(0, depth + 1)]) !== undefined) depth++;
  return depth;
}

function issueAt(source: SourceFile, segments: IssuePath, message: string, got: unknown): BoxfileIssue {
  const pos = locate(source, segments);
  const shown = got === undefined || isSecretPath(segments) ? {} : {got: formatValue(got)};
  return {file: source.display, line: pos.line, column: pos.column, path: formatPath(segments), message, ...shown};
}

/**
 * Where a problem with one machine's merged setting (`segments`, e.g. targets.aws.ssh_cidr) is
 * written: the most specific layer of the Boxfile that sets it (environment machine, environment,
 * machine, top level), else the user config that sets it; for a setting missing everywhere, the
 * place that comes closest (the `targets.aws` mapping it belongs in). Checks that run on the
 * merged machine (the aws target's, shared by `validate` and `up`) use it to report file:line:col.
 * Returns undefined when the Boxfile cannot be read (the caller then reports without a position).
 */
export async function machineSettingIssue(project: SettingProject, machine: string, segments: IssuePath, message: string, got?: unknown, cwd = process.cwd()): Promise<BoxfileIssue | undefined> {
  const boxfile = await readSource(project.boxfilePath, displayPath(project.boxfilePath, cwd)).catch(() => undefined);
  if (!boxfile || boxfile.issues.length > 0) return undefined;
  const data = boxfile.source.data;
  const layers = layersOf(data, machine, project.environment);
  const setting = layers.find((l) => getAt(data, [...l, ...segments]) !== undefined);
  if (setting) return issueAt(boxfile.source, [...setting, ...segments], message, got);

  const configPath = userPaths.config();
  if (existsSync(configPath)) {
    const config = await readSource(configPath, displayPath(configPath, cwd, true)).catch(() => undefined);
    if (config && config.issues.length === 0 && getAt(config.source.data, segments) !== undefined) return issueAt(config.source, segments, message, got);
  }
  // Missing everywhere: point at the deepest part of the path the Boxfile has (most specific layer on a tie).
  const best = layers.reduce((a, b) => (existingDepth(data, b, segments) > existingDepth(data, a, segments) ? b : a), layers[0]);
  return issueAt(boxfile.source, [...best, ...segments], message, got);
}
