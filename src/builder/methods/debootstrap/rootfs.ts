import {chmod, copyFile, mkdir, readdir, rm, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {BoxError} from '../../../core/errors.js';
import {withLock} from '../../../core/lock.js';
import type {Step} from '../../../core/steps.js';
import {resolveTemplateFile} from '../../templates-dir.js';
import type {BuildState} from '../index.js';
import {removeRootfs} from './mounts.js';
import {runStreamed} from './stream.js';

/** Facts the debootstrap steps pass along in `state.data`. */
export interface DebootstrapData {
  rootfs?: string;
  kernelVersion?: string;
}

export function data(state: BuildState): DebootstrapData {
  return state.data as DebootstrapData;
}

/** How long a build waits for another one's debootstrap (a cold one takes minutes). */
const CACHE_WAIT_MS = 30 * 60_000;

const CHROOT_ENV = {PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', DEBIAN_FRONTEND: 'noninteractive', HOME: '/root'};

async function streamed(state: BuildState, signal: AbortSignal, prefix: string, file: string, args: string[], env: Record<string, string> = {}): Promise<void> {
  const hint = prefix === 'debootstrap' ? 'Check that the mirror is reachable and the package names exist in the suite.' : 'The output above shows where it failed.';
  await runStreamed(state.ui, signal, prefix, file, args, env, hint);
}

/** Step: debootstrap the suite into `<work>/rootfs`, with .debs cached in box's cache. */
export const debootstrapStep: Step<BuildState> = {
  name: 'debootstrap',
  async run(state, signal) {
    const cfg = state.template.definition.debootstrap!;
    const rootfs = path.join(state.workDir, 'rootfs');
    data(state).rootfs = rootfs; // recorded before it exists, so cleanup also removes a partial one
    const cacheDir = path.join(state.cacheDir, 'debootstrap', `${cfg.suite}-amd64`);
    await mkdir(cacheDir, {recursive: true});
    const args = [
      `--variant=${cfg.variant}`,
      `--components=${cfg.components.join(',')}`,
      `--cache-dir=${cacheDir}`,
      ...(cfg.packages.length ? [`--include=${cfg.packages.join(',')}`] : []),
      ...(cfg.exclude.length ? [`--exclude=${cfg.exclude.join(',')}`] : []),
      '--arch=amd64',
      cfg.suite, rootfs, cfg.mirror,
    ];
    state.ui.info(`debootstrap ${cfg.suite} from ${cfg.mirror} (${cfg.packages.length} extra packages, cache ${cacheDir})`);
    // Two debootstraps downloading into one cache folder corrupt each other's .debs ("Retrying
    // failed download" until it gives up): builds on one host take turns with the cache.
    await withLock(cacheDir, {
      what: `the .deb cache ${cacheDir}`, waitMs: CACHE_WAIT_MS, signal,
      onWait: () => state.ui.info(`waiting for another build that is using the .deb cache ${cacheDir}`),
    }, () => streamed(state, signal, 'debootstrap', 'debootstrap', args, {PATH: CHROOT_ENV.PATH}));
  },
  async cleanup(state) {
    const rootfs = data(state).rootfs;
    if (rootfs) await removeRootfs(rootfs);
  },
};

/**
 * Step: make the unpacked system a guest: hostname, files from the template, the template's
 * post-install scripts run inside the chroot (the same scripts an installer build runs over
 * SSH), then a slim initramfs (MODULES=list) with the listed drivers.
 */
export const configureRootfsStep: Step<BuildState> = {
  name: 'configure',
  async run(state, signal) {
    const t = state.template;
    const cfg = t.definition.debootstrap!;
    const rootfs = data(state).rootfs!;
    await writeFile(path.join(rootfs, 'etc/hostname'), `${cfg.hostname}\n`);
    await writeFile(path.join(rootfs, 'etc/hosts'), `127.0.0.1\tlocalhost\n127.0.1.1\t${cfg.hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`);
    for (const [dest, source] of Object.entries(cfg.files)) {
      const target = path.join(rootfs, dest.replace(/^\/+/, ''));
      await mkdir(path.dirname(target), {recursive: true});
      await copyFile(resolveTemplateFile(t.dir, source), target);
    }
    // Keep package maintainer scripts from starting daemons inside the chroot.
    const policy = path.join(rootfs, 'usr/sbin/policy-rc.d');
    await writeFile(policy, '#!/bin/sh\nexit 101\n', {mode: 0o755});
    try {
      let n = 0;
      for (const post of t.definition.post_install) {
        n++;
        const name = post.script ? path.basename(post.script) : `inline-${n}`;
        const body = post.script ? undefined : `#!/bin/sh\nset -e\n${post.inline!.join('\n')}\n`;
        const inGuest = `/tmp/box-post-install-${n}-${name}`;
        if (body) await writeFile(path.join(rootfs, inGuest), body, {mode: 0o755});
        else await copyFile(resolveTemplateFile(t.dir, post.script!), path.join(rootfs, inGuest));
        await chmod(path.join(rootfs, inGuest), 0o755);
        state.ui.info(`post-install ${name} (in chroot)`);
        try {
          await streamed(state, signal, name, 'chroot', [rootfs, '/bin/sh', inGuest], {
            ...CHROOT_ENV, BOX_BUILD_METHOD: 'debootstrap', BOX_IN_CHROOT: '1', ...post.env,
          });
        } finally {
          await rm(path.join(rootfs, inGuest), {force: true});
        }
      }
    } finally {
      await rm(policy, {force: true});
    }
    // Slim initramfs: only the drivers needed to find the root disk (faster boot under TCG).
    if (cfg.initramfs_modules.length > 0) {
      await mkdir(path.join(rootfs, 'etc/initramfs-tools/conf.d'), {recursive: true});
      await writeFile(path.join(rootfs, 'etc/initramfs-tools/conf.d/box.conf'), 'MODULES=list\nCOMPRESS=gzip\n');
      await writeFile(path.join(rootfs, 'etc/initramfs-tools/modules'), cfg.initramfs_modules.join('\n') + '\n');
    }
    const kernels = (await readdir(path.join(rootfs, 'boot'))).filter((f) => f.startsWith('vmlinuz-')).sort();
    if (kernels.length === 0) {
      throw new BoxError('ERR_BUILD_NO_KERNEL', `No kernel in ${path.join(rootfs, 'boot')} after debootstrap.`, {
        hint: 'Add a kernel package (e.g. linux-image-cloud-amd64) to debootstrap.packages in the template.',
      });
    }
    const version = kernels.at(-1)!.slice('vmlinuz-'.length);
    data(state).kernelVersion = version;
    await streamed(state, signal, 'initramfs', 'chroot', [rootfs, 'update-initramfs', '-u', '-k', version], CHROOT_ENV);
  },
};
