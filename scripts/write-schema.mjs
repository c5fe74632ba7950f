#!/usr/bin/env node
// Publishes the Boxfile schema (src/boxfile/schema.ts, built to dist/) as JSON Schema for
// editors (yaml-language-server: `# yaml-language-server: $schema=...`).
import {writeFileSync} from 'node:fs';
import {zodToJsonSchema} from 'zod-to-json-schema';
import {boxfileSchema} from '../dist/boxfile/schema.js';

const schema = zodToJsonSchema(boxfileSchema, {name: 'Boxfile', $refStrategy: 'none'});
schema.title = 'Boxfile';
schema.description = 'A box project: basebox, provisioners, target, machines and environments.';
writeFileSync(new URL('../schemas/boxfile.schema.json', import.meta.url), JSON.stringify(schema, null, 2) + '\n');
