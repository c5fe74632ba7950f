/**
 * How much of a configuration file box reads. A Boxfile is a few kilobytes and a few levels
 * deep; these bounds are hundreds of times that, so no real file meets them, while a generated
 * or hostile one (700 000 machines, an alias bomb, 100 000 nested lists) is refused in well
 * under a second with an error naming the limit, instead of running for an hour.
 */
export const boxfileLimits = {
  /** File size. */
  maxBytes: 8 * 1024 * 1024,
  /** Nesting of mappings and lists (a Boxfile needs about 8). */
  maxDepth: 64,
  /** YAML anchors (`&a`) plus aliases (`*a`, `<<: *a`). */
  maxAliases: 10_000,
  /** Values (mappings, lists, scalars, keys) once every alias is expanded. */
  maxValues: 1_000_000,
  /** Entries of `machines:` (in the Boxfile and in each environment). */
  maxMachines: 50_000,
} as const;

export type BoxfileLimits = typeof boxfileLimits;
