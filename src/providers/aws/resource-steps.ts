import {RunInstancesCommand, type EC2Client, type Instance, type RunInstancesCommandInput, type Tag} from '@aws-sdk/client-ec2';
import type {Step, StepOutcome} from '../../core/steps.js';
import type {Ui} from '../../core/ui.js';
import {throwIfAborted} from '../../core/errors.js';
import {awsCall, type AwsErrorContext} from './errors.js';
import {allowSsh, createSecurityGroup, deleteKeyPair, deleteSecurityGroup, importKeyPair} from './resources.js';

// The EC2 resources `box up` (aws-provider.ts) and the AMI bake (builder/methods/aws/bake-steps.ts)
// both create, as steps. Each caller keeps its own typed state (up: state.json, so a killed box
// leaves a record `box destroy` reads; the bake: its in-memory BakeState plus the bake record):
// the spec's functions read and record into it. What a step makes is recorded BEFORE the
// creating call, so a crash during the call still leaves it findable by its name or token.

/** Where the resources go: the client and its region, and the abort signal for creating calls. */
export interface AwsPlace {
  client: EC2Client;
  region: string;
  ui: Ui;
}

export interface KeyPairSpec<S> {
  name: string;
  place(s: S): AwsPlace;
  /** Chooses (and records) the key pair to import; undefined when the user brings their own. */
  plan(s: S): Promise<{name: string; publicKey: string; tags: Tag[]} | undefined>;
  /** Records the id EC2 gave it. */
  created?(s: S, id: string | undefined): Promise<unknown>;
  /** The key pair this run made that `outcome` calls to remove (none: keep). */
  toRemove(s: S, outcome: StepOutcome): Promise<string | undefined>;
}

/** ImportKeyPair of a key made on this host (its private half never leaves it). */
export function keyPairStep<S>(spec: KeyPairSpec<S>): Step<S> {
  return {
    name: spec.name,
    async run(s, signal) {
      const key = await spec.plan(s);
      if (!key) return;
      const {client, region} = spec.place(s);
      const id = await importKeyPair(client, {name: key.name, publicKey: key.publicKey, tags: key.tags, region});
      await spec.created?.(s, id);
      throwIfAborted(signal);
    },
    async cleanup(s, outcome) {
      const name = await spec.toRemove(s, outcome);
      if (name) await deleteKeyPair(spec.place(s).client, name, spec.place(s).region);
    },
  };
}

export interface SecurityGroupSpec<S> {
  name: string;
  place(s: S): AwsPlace;
  /** Chooses (and records) the group to create and the SSH rule it opens; undefined when the user names groups. */
  plan(s: S): Promise<{name: string; description: string; vpcId?: string; tags: Tag[]; sshPort: number; sshCidr: string} | undefined>;
  /** Records the group's id (before its SSH rule is added). */
  created(s: S, groupId: string): Promise<unknown>;
  /** The group this run made that `outcome` calls to remove (none: keep). */
  toRemove(s: S, outcome: StepOutcome): Promise<{name: string; id?: string; vpcId?: string} | undefined>;
}

/** CreateSecurityGroup with one ingress rule: SSH from the given CIDR. */
export function securityGroupStep<S>(spec: SecurityGroupSpec<S>): Step<S> {
  return {
    name: spec.name,
    async run(s, signal) {
      const group = await spec.plan(s);
      if (!group) return;
      const {client, region} = spec.place(s);
      const groupId = await createSecurityGroup(client, {name: group.name, description: group.description, vpcId: group.vpcId, tags: group.tags, region});
      await spec.created(s, groupId);
      await allowSsh(client, {groupId, port: group.sshPort, cidr: group.sshCidr, region, signal});
    },
    async cleanup(s, outcome) {
      const group = await spec.toRemove(s, outcome);
      if (!group) return;
      const {client, region, ui} = spec.place(s);
      // Not the run's signal: a Ctrl-C must not cut the removal short.
      await deleteSecurityGroup(client, group, region, ui, new AbortController().signal);
    },
  };
}

export interface RunInstanceSpec<S> {
  name: string;
  place(s: S): AwsPlace;
  /** The RunInstances input (with the run's ClientToken and tags, which find an instance whose id never came back). */
  input(s: S): Promise<RunInstancesCommandInput>;
  /** Says what is launched (a stage or info line). */
  announce(s: S, input: RunInstancesCommandInput): void;
  /** For error messages: where the call went (endpoint, profile). */
  callContext?(s: S): Pick<AwsErrorContext, 'endpoint' | 'profile'>;
  /** Records the instance (id, spot request). */
  launched(s: S, instance: Instance | undefined): Promise<unknown>;
  /** Terminates what this run launched when `outcome` calls for it (also an instance whose id never came back). */
  terminate(s: S, outcome: StepOutcome): Promise<void>;
}

/** RunInstances, idempotent through its ClientToken. */
export function runInstanceStep<S>(spec: RunInstanceSpec<S>): Step<S> {
  return {
    name: spec.name,
    async run(s, signal) {
      const {client, region} = spec.place(s);
      const input = await spec.input(s);
      spec.announce(s, input);
      const out = await awsCall({action: 'RunInstances', region, ami: input.ImageId, instanceType: input.InstanceType, ...spec.callContext?.(s)}, () => client.send(new RunInstancesCommand(input)));
      // Not abandoned on Ctrl-C (see resources.ts): recorded first, then the interruption.
      await spec.launched(s, out.Instances?.[0]);
      throwIfAborted(signal);
    },
    cleanup: (s, outcome) => spec.terminate(s, outcome),
  };
}
