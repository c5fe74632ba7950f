#!/usr/bin/env node
// Publishes the Boxfile schema (src/boxfile/schema.ts, built to dist/) as JSON Schema for
// editors (yaml-language-server: `# yaml-language-server: $schema=...`). The conversion lives in
// src/boxfile/json-schema.ts so test/manifest.test.ts regenerates exactly the same document.
// The targets (names, aliases, `targets.*` settings) come from the target registry.
import {writeFileSync} from 'node:fs';
import '../dist/providers/registry.js';
import '../dist/provisioners/registry.js';
import {boxfileJsonSchema} from '../dist/boxfile/json-schema.js';

writeFileSync(new URL('../schemas/boxfile.schema.json', import.meta.url), JSON.stringify(boxfileJsonSchema(), null, 2) + '\n');
