import {readFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The named AWS profile a connection uses, and where the name came from (for messages). */
export function namedProfile(profile: string | undefined): {name: string; from: string} | undefined {
  if (profile) return {name: profile, from: 'targets.aws.profile'};
  if (process.env.AWS_PROFILE) return {name: process.env.AWS_PROFILE, from: 'AWS_PROFILE'};
  return undefined;
}

function sections(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return [...text.matchAll(/^\s*\[\s*([^\]]+?)\s*\]\s*$/gm)].map((m) => m[1]);
}

/**
 * Whether the shared config or credentials file (the SDK's files: AWS_CONFIG_FILE /
 * AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/config and ~/.aws/credentials) defines the profile.
 * Only asked when the SDK already failed to find a region or credentials, to tell a misspelt
 * profile from a profile that lacks a setting: the SDK reports both as "Region is missing" /
 * "Could not load credentials from any providers".
 */
export function profileDefined(name: string): boolean {
  const home = os.homedir();
  const config = process.env.AWS_CONFIG_FILE ?? path.join(home, '.aws', 'config');
  const credentials = process.env.AWS_SHARED_CREDENTIALS_FILE ?? path.join(home, '.aws', 'credentials');
  // In the config file a profile is `[profile NAME]` (or `[default]`); in credentials it is `[NAME]`.
  const inConfig = sections(config).some((s) => s === `profile ${name}` || (name === 'default' && s === 'default'));
  return inConfig || sections(credentials).includes(name);
}
