import {randomBytes} from 'node:crypto';
import {sanitizeInstanceId} from '../../boxfile/instance.js';

export interface InstanceId {
  id: string;
  /** Where it came from: "--id", the CI variable(s) it was made of, or "random". */
  from: string;
}

/**
 * The job ids CI services give every job, in the order box tries them. Each is unique per job
 * (and retry) on its service, so two jobs on one runner, even in the same checkout, never get
 * the same instance. GitHub's run id is shared by every job (and matrix entry) of a run, hence
 * the attempt and the job's key; a matrix must add its own values with --id.
 */
const CI_JOB_IDS: ReadonlyArray<{prefix: string; vars: readonly string[]}> = [
  {prefix: 'gh', vars: ['GITHUB_RUN_ID', 'GITHUB_RUN_ATTEMPT', 'GITHUB_JOB']},
  {prefix: 'gl', vars: ['CI_JOB_ID']},
  {prefix: '', vars: ['BUILD_TAG']}, // Jenkins: jenkins-JOB-NUMBER
  {prefix: 'bk', vars: ['BUILDKITE_JOB_ID']},
  {prefix: 'circle', vars: ['CIRCLE_WORKFLOW_JOB_ID']},
  {prefix: 'azure', vars: ['BUILD_BUILDID', 'SYSTEM_JOBID']},
  {prefix: 'travis', vars: ['TRAVIS_JOB_ID']},
];

/**
 * `--id` (or BOX_INSTANCE) when given; else the first CI service whose job variables are all
 * set; else a random id (a local run). Always sanitized (lowercase letters, digits, dashes;
 * a long id keeps its start and a hash).
 */
export function deriveInstanceId(given: string | undefined, env: NodeJS.ProcessEnv): InstanceId {
  if (given !== undefined) return {id: sanitizeInstanceId(given), from: '--id'};
  for (const {prefix, vars} of CI_JOB_IDS) {
    const values = vars.map((name) => env[name]?.trim());
    if (values.every((v) => v)) return {id: sanitizeInstanceId([prefix, ...values].filter(Boolean).join('-')), from: vars.join(' + ')};
  }
  return {id: `ci-${randomBytes(4).toString('hex')}`, from: 'random'};
}
