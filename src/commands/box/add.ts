import {Args, Flags} from '@oclif/core';
import {DEFAULT_EXPANSION_LIMITS} from '../../boxes/extract.js';
import {parseChecksumType} from '../../boxes/verify.js';
import {sizeToMiB} from '../../boxfile/sizes.js';
import {BaseCommand} from '../../core/base-command.js';
import {UsageError} from '../../core/errors.js';
import {addBox, type AddedBox} from '../../boxes/add.js';

export default class BoxAdd extends BaseCommand {
  static override summary = 'Add a box to the local store from a file, URL or Vagrant catalog.';
  static override description = `Two forms, as in Vagrant:
  box box add NAME FILE|URL        a .box file (tar or tar.gz; also tar.bz2/xz/zst with the host's tool), stored as NAME at --box-version (default 0)
  box box add CATALOG.json|URL     a Vagrant catalog: the newest version matching --box-version (a constraint, comma = AND) for --provider

The archive is read once: hashed, extracted into a temporary folder inside the store and moved into place only when the checksum, metadata.json and the files the box needs check out. Unsafe archives (absolute paths, "..", links leaving the box, devices, FIFOs, disk images naming files outside the box) are refused, and so are archives cut short. A compressed archive may expand at most --max-expansion-ratio times its size (checked past 1 GiB) and to at most --max-expanded-size. Settings of the box's Vagrantfile that box does not use are listed as warnings. A dropped http(s) connection is resumed with HTTP Range requests; the bytes of a failed or interrupted download are kept and resumed by the next run (box box prune removes them).
Exit codes: 0 ok, 1 failed, 2 usage error, 130 interrupted.`;

  static override usage = ['box add NAME FILE|URL [--box-version V] [--checksum X] [--provider P] [--force]', 'box add CATALOG|URL [--box-version CONSTRAINT] [--provider P] [--force]'];

  static override examples = [
    '<%= config.bin %> box add debian-12 ./output/debian-12.box --box-version 1.0.0',
    '<%= config.bin %> box add https://example.org/debian-12.json --box-version ">= 1.0, < 2" --provider libvirt',
    '<%= config.bin %> box add myorg/base https://example.org/base.box --checksum-type sha256 --checksum 3a7b... --force',
  ];

  static override args = {
    nameOrSource: Args.string({ignoreStdin: true, description: 'Box name (then give FILE|URL), or a catalog path/URL.', required: true}),
    source: Args.string({ignoreStdin: true, description: 'Box file path or URL (when the first argument is a name).'}),
  };

  static override flags = {
    'box-version': Flags.string({description: 'Version to store a box file as (default 0), or a version constraint for a catalog (">= 1.0, < 2", "~> 1.2").'}),
    provider: Flags.string({description: 'Provider wanted: libvirt (qemu target), virtualbox or aws. Checked against the box metadata.json.'}),
    force: Flags.boolean({description: 'Replace an installed box of the same name, version and provider.', default: false}),
    checksum: Flags.string({description: 'Expected checksum of the box file (catalogs carry their own).'}),
    'checksum-type': Flags.string({description: 'Type of --checksum.', options: ['md5', 'sha1', 'sha256', 'sha384', 'sha512'], default: 'sha256'}),
    'max-expanded-size': Flags.string({description: `Largest size a compressed box may expand to (e.g. 500G; default ${DEFAULT_EXPANSION_LIMITS.maxBytes / 1024 ** 3}G).`}),
    'max-expansion-ratio': Flags.integer({description: `Largest ratio of expanded to compressed size, checked once 1 GiB is written (default ${DEFAULT_EXPANSION_LIMITS.maxRatio}).`, min: 1}),
  };

  async run(): Promise<AddedBox> {
    const {args, flags} = await this.parse(BoxAdd);
    const [name, source] = args.source === undefined ? [undefined, args.nameOrSource] : [args.nameOrSource, args.source];
    if (flags.checksum !== undefined && flags.checksum.trim() === '') throw new UsageError('ERR_USAGE', '--checksum is empty.', {hint: 'Give the hex checksum of the box file.'});
    if (flags.checksum !== undefined) checkChecksumShape(flags.checksum.trim(), flags['checksum-type']);
    const result = await addBox({
      source,
      name,
      version: flags['box-version'],
      provider: flags.provider,
      force: flags.force,
      checksum: flags.checksum ? {type: parseChecksumType(flags['checksum-type'], '--checksum-type'), value: flags.checksum} : undefined,
      ui: this.ui,
      signal: this.signal,
      limits: {
        maxBytes: flags['max-expanded-size'] === undefined ? DEFAULT_EXPANSION_LIMITS.maxBytes : parseSizeFlag(flags['max-expanded-size']),
        maxRatio: flags['max-expansion-ratio'] ?? DEFAULT_EXPANSION_LIMITS.maxRatio,
      },
    });
    return result;
  }
}

const HEX_LENGTH: Record<string, number> = {md5: 32, sha1: 40, sha256: 64, sha384: 96, sha512: 128};

/** A checksum of the wrong length or alphabet is a typo: say so before downloading gigabytes. */
function checkChecksumShape(value: string, type: string): void {
  const expected = HEX_LENGTH[type];
  if (expected !== undefined && (!/^[0-9a-f]+$/i.test(value) || value.length !== expected)) {
    throw new UsageError('ERR_USAGE', `--checksum is not a ${type} checksum: expected ${expected} hex digits, got ${value.length} characters.`, {
      hint: `Copy the whole checksum, or set --checksum-type (${Object.entries(HEX_LENGTH).map(([t, n]) => `${t}: ${n}`).join(', ')} hex digits).`,
    });
  }
}

/** --max-expanded-size: a size with a binary unit (500G, 2T, 800M); a bare number is GiB. */
function parseSizeFlag(value: string): number {
  try {
    const mib = sizeToMiB(value, 'g');
    if (mib > 0) return mib * 1024 * 1024;
  } catch {
    // reported below
  }
  throw new UsageError('ERR_USAGE', `--max-expanded-size ${JSON.stringify(value)} is not a size.`, {hint: 'Give a size such as 500G or 2T.'});
}
