import {execa, type ResultPromise} from 'execa';
import {spawnSync} from 'node:child_process';
import {setTimeout as sleep} from 'node:timers/promises';

/**
 * A local EC2/S3 API: the moto emulator (`python3 -m moto.server`), one per test file.
 * Fails loudly when python3 or moto is missing: these tests are part of CI, never skipped.
 *
 *   const moto = await startMoto();      // in before()
 *   await moto.reset();                  // between tests
 *   await moto.stop();                   // in after()
 *
 * `moto.env` holds what a child `box` process needs: the endpoint, a region and dummy
 * credentials (moto accepts any).
 */
export interface Moto {
  url: string;
  port: number;
  env: Record<string, string>;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export const DUMMY_ACCESS_KEY = 'AKIAIOSFODNN7EXAMPLE';
export const DUMMY_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYDUMMYSECRET';

export async function startMoto(): Promise<Moto> {
  const check = spawnSync('python3', ['-c', 'import moto.server, flask, werkzeug'], {encoding: 'utf8'});
  if (check.status !== 0) {
    throw new Error(`The aws tests need the moto EC2 emulator, and it does not load here:\n${check.stderr || check.error}\n`
      + 'Install it with `pip install "moto[server]==5.2.1"` (or Debian: apt-get install python3-pip && pip install --break-system-packages "moto[server]").');
  }
  // Port 0: the OS picks a free port and werkzeug prints it. Picking one beforehand raced with
  // other test processes, and two suites could end up sharing (and resetting) one emulator.
  const child: ResultPromise = execa('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', '0'], {env: {MOTO_ENABLE_AMI_VALIDATION: 'true'}, reject: false, stdio: ['ignore', 'ignore', 'pipe'], buffer: {stderr: true}, cleanup: true});
  let exited = false;
  void child.then(() => { exited = true; });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
  const deadline = Date.now() + 30_000;
  let url = '';
  let port = 0;
  for (;;) {
    if (exited) throw new Error(`moto.server exited at start:\n${(await child).stderr}`);
    const announced = /Running on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
    if (announced) {
      port = Number(announced[1]);
      url = `http://127.0.0.1:${port}`;
      try {
        const res = await fetch(`${url}/moto-api/reset`, {method: 'POST'});
        if (res.ok) break;
      } catch {
        // not answering yet
      }
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto.server did not answer within 30 s:\n${stderr}`);
    }
    await sleep(150);
  }
  return {
    url,
    port,
    env: {
      AWS_ENDPOINT_URL_EC2: url,
      AWS_ENDPOINT_URL_S3: url,
      AWS_ACCESS_KEY_ID: DUMMY_ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: DUMMY_SECRET,
      AWS_REGION: 'us-east-1',
      // Keep the developer's ~/.aws out of the tests.
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      BOX_AWS_POLL_SECONDS: '1',
      BOX_AWS_RETRY_DELAY_MS: '50',
    },
    async reset() {
      const res = await fetch(`${url}/moto-api/reset`, {method: 'POST'});
      if (!res.ok) throw new Error(`moto reset failed: ${res.status}`);
    },
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await child;
      clearTimeout(timer);
    },
  };
}

/** Sets moto's env on this process (for in-process provider tests); returns a restore function. */
export function useMotoEnv(moto: Moto): () => void {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(moto.env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}
