import {lazyRequire} from '../core/lazy-require.js';
import {boxfileSchema} from './schema.js';

// Only the JSON Schema writer needs it; loading a Boxfile (withoutExtensions) does not.
const zodToJsonSchema = lazyRequire<typeof import('zod-to-json-schema')>('zod-to-json-schema');

/** Top-level keys starting with `x-` are ignored (a place for YAML anchors, as in Compose files). */
export const EXTENSION_KEY = /^x-/;

/**
 * The Boxfile schema as JSON Schema (draft-07) for editors (`schemas/boxfile.schema.json`,
 * written by `npm run build` through scripts/write-schema.mjs). Descriptions come from the zod
 * schema's `.describe()` calls.
 */
export function boxfileJsonSchema(): Record<string, unknown> {
  const schema = zodToJsonSchema().zodToJsonSchema(boxfileSchema, {name: 'Boxfile', $refStrategy: 'none'}) as Record<string, unknown> & {definitions: Record<string, Record<string, unknown>>};
  schema.definitions.Boxfile.patternProperties = {'^x-': {description: 'Ignored by box: a place for YAML anchors (&name) reused with merge keys (<<: *name).'}};
  return {...schema, title: 'Boxfile', description: 'A box project: basebox, provisioners, target, machines and environments.'};
}

/** The Boxfile data without its `x-` extension keys. */
export function withoutExtensions(data: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(data).filter(([key]) => !EXTENSION_KEY.test(key)));
}
