import {readMachineState, updateMachineState} from '../../core/state.js';
import type {ProjectGroup} from './private-network.js';

/**
 * What the aws provider records under `state.provider` in `.box/machines/<name>/state.json`.
 * Each resource is written here BEFORE the API call that creates it (its name or the token it
 * will be tagged with), then completed with its id, so `box destroy` after a crash finds it.
 */
export interface AwsMachineState {
  phase: 'creating' | 'created';
  region: string;
  endpoint?: string;
  profile?: string;
  /** Tagged on the instance (box:token) and used as RunInstances' ClientToken (idempotent retries). */
  token: string;
  ami: string;
  amiSource: string;
  instanceType: string;
  instanceId?: string;
  spotRequestId?: string;
  keyPair?: {name: string; managed: boolean; privateKeyPath: string; id?: string};
  securityGroup?: {name: string; managed: boolean; id?: string; vpcId?: string};
  /** The project's private network group this instance is in (shared with the project's other networked machines). */
  privateGroup?: ProjectGroup;
  /** The subnet shared by the project's networked machines (private network). */
  subnetId?: string;
  /** Elastic IPs of this machine; `intent` entries were being allocated when box stopped. */
  elasticIps: Array<{token: string; allocationId?: string; publicIp?: string; associationId?: string}>;
  sshUsername: string;
  sshInterface: 'public' | 'private';
  /** Launched with HibernationOptions.Configured (`targets.aws.hibernation`): `box suspend` hibernates it. */
  hibernation?: boolean;
  /** A clone (`--from`): the AMI name of the image it launches from, recorded before the image is made; the image is removed once the instance runs (clone.ts). */
  cloneImage?: {name: string};
  /** Set (before StopInstances Hibernate=true) while the machine is suspended; `up` resumes it and clears it. */
  hibernated?: {at: string};
}

export async function readAwsState(root: string, machine: string): Promise<AwsMachineState | undefined> {
  const state = await readMachineState(root, machine);
  if (!state || state.target !== 'aws') return undefined;
  return state.provider as unknown as AwsMachineState;
}

/** Atomically changes the recorded aws state (the recorder every creating call goes through). */
export async function recordAws(root: string, machine: string, change: (s: AwsMachineState) => void): Promise<AwsMachineState> {
  const state = await updateMachineState(root, machine, (s) => change(s.provider as unknown as AwsMachineState));
  return state.provider as unknown as AwsMachineState;
}
