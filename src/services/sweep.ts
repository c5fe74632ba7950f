import type {Ui} from '../core/ui.js';
import {removeBakeRecord} from '../providers/aws/bake-records.js';
import {clientRegion, ec2Client, type AwsConnection} from '../providers/aws/client.js';
import {mapAwsError} from '../providers/aws/errors.js';
import {findTaggedOrphans, findTransferLeftovers, findWorkFolderLeftovers, type SweptResource} from '../providers/aws/orphans.js';
import {removeOrphans} from '../providers/aws/remove-orphans.js';
import {removeTransferRecord} from '../providers/aws/transfer-records.js';

export interface SweepResult {
  region: string;
  dryRun: boolean;
  resources: SweptResource[];
}

export interface SweepOptions extends AwsConnection {
  dryRun: boolean;
  /** Also resources created by box on other hosts (their project folders cannot be checked here). */
  allHosts: boolean;
  /** Also deregister finished baked AMIs (and their snapshots) that no stored box refers to. */
  images?: boolean;
  ui: Ui;
  signal: AbortSignal;
}

/**
 * `box sweep`: lists resources tagged by box (box:host) whose project state (or, for baked
 * AMIs, the box store) no longer knows them, and what dead bakes and image transfers left, then
 * removes them unless `dryRun`. Only this host's resources are considered unless `allHosts`:
 * another host's project folders cannot be checked from here.
 */
export async function sweep(options: SweepOptions): Promise<SweepResult> {
  const client = ec2Client(options);
  const region = await clientRegion(client).catch((error) => { throw mapAwsError(error, {action: 'configure region'}); });
  const tagged = await findTaggedOrphans({client, region, allHosts: options.allHosts, images: options.images, signal: options.signal});
  const transfers = await findTransferLeftovers(client, region);
  const found = [...tagged.resources, ...transfers.resources, ...await findWorkFolderLeftovers(region)];

  for (const r of found) options.ui.info(`${options.dryRun ? 'would remove' : 'removing'} ${r.type} ${r.id}${r.name ? ` (${r.name})` : ''}: ${r.reason}`);
  if (!options.dryRun) {
    await removeOrphans(found, {conn: options, client, region, ui: options.ui, signal: options.signal});
    // A dead bake's or transfer's record is its last trail: it goes once everything it led to is gone.
    for (const b of tagged.deadBakes) if (found.filter((r) => r.bake === b.token).every((r) => r.removed)) await removeBakeRecord(b.token);
    for (const t of transfers.deadTransfers) if (found.filter((r) => r.transferId === t.id).every((r) => r.removed)) await removeTransferRecord(t.id);
  }
  return {region, dryRun: options.dryRun, resources: found};
}
