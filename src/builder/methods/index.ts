import type {Step} from '../../core/steps.js';
import type {Ui} from '../../core/ui.js';
import type {LoadedTemplate, TemplateDefinition} from '../template.js';
import {debootstrapMethod} from './debootstrap/index.js';
import {isoMethod} from './iso/index.js';
import {boxMethod} from './box/index.js';
import type {AskOnError, OnError} from '../on-error.js';

/**
 * What a build method hands to the generic tail of `box build` (compress, package, catalog):
 * a disk image plus any extra files and metadata keys for the box.
 */
export interface BuildArtifact {
  imagePath: string;
  format: 'raw' | 'qcow2';
  virtualSizeGiB: number;
  /** Files added to the box next to box.img (name in the box → path on disk), e.g. vmlinuz. */
  extraFiles: Record<string, string>;
  /** Keys merged into metadata.json (Vagrant ignores unknown keys), e.g. kernel, initrd, cmdline. */
  extraMetadata: Record<string, unknown>;
}

/** State shared by the steps of one build. Methods keep their own facts under `data`. */
export interface BuildState {
  template: LoadedTemplate;
  /** Scratch folder of this build, removed at the end. */
  workDir: string;
  outputDir: string;
  boxName: string;
  boxVersion: string;
  /** box's cache folder for downloads (debootstrap .debs, ISOs): survives builds. */
  cacheDir: string;
  ui: Ui;
  /** --on-error: methods that boot a VM keep it when 'abort'; 'ask' is settled at the first failure. */
  onError: OnError;
  askOnError?: AskOnError;
  artifact?: BuildArtifact;
  data: Record<string, unknown>;
}

export interface BuildMethod {
  readonly name: TemplateDefinition['method'];
  /** Host checks before anything is created (root, tools): clear errors with install hints. */
  preflight(template: LoadedTemplate): Promise<void>;
  /**
   * Inputs beyond the template folder, scripts and variables that change the result (ISO
   * checksum, source box digest, host tool versions): part of the build cache key.
   */
  cacheInputs(template: LoadedTemplate): Promise<Record<string, unknown>>;
  /** Human-readable plan lines for --dry-run. */
  plan(template: LoadedTemplate): string[];
  /** Steps that end with `state.artifact` set. */
  steps(template: LoadedTemplate): Array<Step<BuildState>>;
}

/**
 * The method registry. `iso` and `box` are registered by their own modules (issue 4); a
 * template whose method is missing here fails with a clear error before anything runs.
 */
export const buildMethods: Partial<Record<TemplateDefinition['method'], BuildMethod>> = {
  debootstrap: debootstrapMethod,
  iso: isoMethod,
  box: boxMethod,
};

export function registerBuildMethod(method: BuildMethod): void {
  buildMethods[method.name] = method;
}
