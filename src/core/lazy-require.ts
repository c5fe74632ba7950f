import {createRequire} from 'node:module';

const require = createRequire(import.meta.url);

/**
 * A CommonJS package loaded on first call rather than at start-up, synchronously (so sync APIs
 * stay sync): `box status` or `box --help` must not pay for ssh2, tar-stream or handlebars, which
 * only some commands use. See docs/architecture.md ("Start-up: what loads when"); the module-load
 * test (test/core/startup-modules.test.ts) fails when a heavy package is imported eagerly again.
 * ESM-only packages (execa, got) are loaded with `await import()` at their point of use instead.
 */
export function lazyRequire<T>(specifier: string): () => T {
  let loaded: T | undefined;
  return () => {
    loaded ??= require(specifier) as T;
    return loaded;
  };
}
