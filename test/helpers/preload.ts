import {pathToFileURL} from 'node:url';

/**
 * Environment that loads `file` into a `box` process before box itself (NODE_OPTIONS=--import),
 * after what `base` loads: how CLI tests inject fakes and plug-ins without switches in src/.
 */
export function preloadEnv(file: string, base = process.env.NODE_OPTIONS): {NODE_OPTIONS: string} {
  return {NODE_OPTIONS: [base ?? '', `--import=${pathToFileURL(file).href}`].join(' ').trim()};
}
