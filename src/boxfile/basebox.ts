import path from 'node:path';
import {BOX_NAME_PATTERN, MAX_BOX_NAME_LENGTH} from '../boxes/names.js';
import {VersionConstraint} from '../boxes/version.js';
import {quoted} from '../core/printable.js';
import type {BaseboxRef} from './project.js';

/**
 * The basebox syntax: a store name (`debian-12`, `org/name`) with an optional version
 * constraint after `@` (`debian-12@>= 1.0, < 2`: a comma means AND, Vagrant's `~> 1.2` is
 * understood; versions compare as Vagrant's do), a path to a `.box` file (`./x.box`, `../x.box`, `/abs/x.box`, `~/x.box`), or an
 * http(s) URL (a .box or a catalog JSON).
 */

export type ParsedBasebox = {ok: true; ref: BaseboxRef} | {ok: false; message: string};

/**
 * Checks a Vagrant-style constraint (`>= 1.0, < 2`, `~> 1.2`, `= 3`) with the box store's own
 * parser (RubyGems-style versions, as Vagrant), so the Boxfile accepts exactly what the store
 * can match. Returns an error message naming the bad part, or undefined when it is valid.
 */
export function constraintError(constraint: string): string | undefined {
  const parts = constraint.split(',').map((p) => p.trim());
  if (parts.some((p) => p === '')) return `empty part in version constraint "${constraint}"`;
  for (const part of parts) {
    try {
      const parsed = new VersionConstraint(part);
      if (!parsed.text) throw new Error('empty');
    } catch {
      return `"${part}" is not a version constraint (use e.g. ">= 1.0, < 2", "~> 1.2" or "1.2.3")`;
    }
  }
  return undefined;
}

/**
 * Parses the basebox text. `baseDir` is the folder of the file that declared it (relative box
 * paths resolve against it); `url` is `basebox_url` when given.
 */
export function parseBasebox(raw: string, baseDir: string, url?: string): ParsedBasebox {
  const text = raw.trim();
  if (/^https?:\/\//i.test(text)) {
    try {
      new URL(text);
    } catch {
      return {ok: false, message: 'is not a valid URL'};
    }
    return {ok: true, ref: {raw, kind: 'url', name: text, ...(url ? {url} : {})}};
  }
  if (/^file:\/\//i.test(text)) {
    return {ok: true, ref: {raw, kind: 'file', name: new URL(text).pathname}};
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return {ok: false, message: 'unsupported URL scheme (use http://, https:// or a file path)'};
  if (text.startsWith('./') || text.startsWith('../') || text.startsWith('/') || text.startsWith('~/') || /\.box$/i.test(text)) {
    const expanded = text.startsWith('~/') ? path.join(process.env.HOME ?? '/', text.slice(2)) : text;
    return {ok: true, ref: {raw, kind: 'file', name: path.resolve(baseDir, expanded)}};
  }
  const at = text.indexOf('@');
  const name = at === -1 ? text : text.slice(0, at).trim();
  if (!BOX_NAME_PATTERN.test(name)) return {ok: false, message: `"${name}" is not a box name (letters, digits, . _ - and one optional /), a .box path or an http(s) URL`};
  if (name.length > MAX_BOX_NAME_LENGTH) return {ok: false, message: `box name ${quoted(name, 40)} is ${name.length} characters long (at most ${MAX_BOX_NAME_LENGTH}, as for \`box box add\`)`};
  if (at === -1) return {ok: true, ref: {raw, kind: 'store', name, ...(url ? {url} : {})}};
  const constraint = text.slice(at + 1).trim();
  if (constraint === '') return {ok: false, message: 'empty version constraint after "@" (e.g. debian-12@>= 1.0, < 2)'};
  const error = constraintError(constraint);
  if (error) return {ok: false, message: error};
  return {ok: true, ref: {raw, kind: 'store', name, versionConstraint: constraint, ...(url ? {url} : {})}};
}

/** `basebox_url`: an http(s) URL or a path (made absolute against the declaring file). */
export function parseBaseboxUrl(raw: string, baseDir: string): {ok: true; url: string} | {ok: false; message: string} {
  if (/^https?:\/\//i.test(raw)) {
    try {
      return {ok: true, url: new URL(raw).toString()};
    } catch {
      return {ok: false, message: 'is not a valid URL'};
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) return {ok: false, message: 'unsupported URL scheme (use http://, https:// or a file path)'};
  return {ok: true, url: path.resolve(baseDir, raw)};
}
