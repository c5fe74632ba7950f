import ssh2 from 'ssh2';

/**
 * Tries a password login (password, then keyboard-interactive) with ssh2 and, when it gets in,
 * runs `sudo -S id -un` with the same password: resolves with what happened, never rejects.
 */
export function passwordLogin(port: number, username = 'vagrant', password = 'vagrant'): Promise<{ok: boolean; output?: string; error?: string}> {
  return new Promise((resolve) => {
    const client = new ssh2.Client();
    client.on('ready', () => {
      client.exec(`echo ${password} | sudo -S -p "" id -un`, (error, stream) => {
        if (error) return resolve({ok: true, error: error.message});
        let output = '';
        stream.on('data', (d: Buffer) => (output += d));
        stream.on('close', () => { client.end(); resolve({ok: true, output: output.trim()}); });
      });
    });
    client.on('keyboard-interactive', (_n, _i, _l, prompts, finish) => finish(prompts.map(() => password)));
    client.on('error', (error: Error & {level?: string}) => resolve({ok: false, error: `${error.level}: ${error.message}`}));
    client.connect({host: '127.0.0.1', port, username, password, tryKeyboard: true, readyTimeout: 30_000});
  });
}
