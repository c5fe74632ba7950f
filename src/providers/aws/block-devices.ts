import type {BlockDeviceMapping as Ec2Mapping} from '@aws-sdk/client-ec2';
import {formatPath, type IssuePath} from '../../boxfile/issues.js';
import type {BlockDeviceMapping} from './settings.js';
import {UsageError} from '../../core/errors.js';
import type {AwsSettingProblem} from './settings-checks.js';

/** What is wrong with `block_device_mappings` (part of awsSettingsProblems). */
export function blockDeviceProblems(mappings: BlockDeviceMapping[] | undefined): AwsSettingProblem[] {
  const problems: AwsSettingProblem[] = [];
  const seen = new Set<string>();
  const add = (field: IssuePath, message: string, hint: string) => problems.push({code: 'ERR_AWS_BLOCK_DEVICE', field: ['block_device_mappings', ...field], message, hint});
  (mappings ?? []).forEach((m, i) => {
    if (seen.has(m.device_name)) add([i, 'device_name'], `"${m.device_name}" is mapped twice`, 'Give each mapping its own device name.');
    seen.add(m.device_name);
    if (m.virtual_name) {
      const ebsFields = (['volume_size', 'volume_type', 'iops', 'encrypted', 'delete_on_termination', 'snapshot_id'] as const).filter((k) => m[k] !== undefined);
      if (ebsFields.length > 0) add([i], `is the instance-store volume "${m.virtual_name}" but also sets EBS field(s) ${ebsFields.join(', ')}`, 'Instance-store volumes take only device_name and virtual_name; drop the EBS fields or the virtual_name.');
      return;
    }
    if (m.iops !== undefined && !['io1', 'io2', 'gp3'].includes(m.volume_type ?? '')) add([i, 'iops'], `is set but volume_type is "${m.volume_type ?? 'unset'}"`, 'iops applies to volume_type io1, io2 or gp3.');
    if (m.volume_size === undefined && m.snapshot_id === undefined) add([i], `(${m.device_name}) needs volume_size (GiB) or snapshot_id, or virtual_name for an instance-store volume`, 'For example: {device_name: /dev/sdb, volume_size: 20, volume_type: gp3}.');
  });
  return problems;
}

/**
 * Boxfile block devices in EC2's shape. `virtual_name: ephemeralN` is an instance-store volume
 * (as `ec2-run-instances --block-device-mapping /dev/sdb=ephemeral0`) and takes no EBS fields;
 * everything else is EBS, deleted with the instance unless the Boxfile says otherwise (so
 * `box destroy` leaves no paid volumes behind). Refuses what awsSettingsProblems refuses.
 */
export function toEc2BlockDeviceMappings(mappings: BlockDeviceMapping[] | undefined, boxfile = 'Boxfile'): Ec2Mapping[] | undefined {
  if (!mappings?.length) return undefined;
  const [problem] = blockDeviceProblems(mappings);
  if (problem) throw new UsageError(problem.code, `${boxfile}: ${formatPath(['targets', 'aws', ...problem.field])} ${problem.message}.`, {hint: problem.hint});
  return mappings.map((m) => (m.virtual_name
    ? {DeviceName: m.device_name, VirtualName: m.virtual_name}
    : {
      DeviceName: m.device_name,
      Ebs: {VolumeSize: m.volume_size, VolumeType: m.volume_type, Iops: m.iops, Encrypted: m.encrypted, SnapshotId: m.snapshot_id, DeleteOnTermination: m.delete_on_termination ?? true},
    }));
}
