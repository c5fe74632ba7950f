import net from 'node:net';

/**
 * One attempt to read an SSH server's identification line ("SSH-2.0-..."). Resolves with the
 * line, or rejects when the connection is refused, closed or silent for `timeoutMs`.
 * A port forwarded by QEMU accepts TCP connections long before the guest's sshd runs, so a
 * successful connect alone proves nothing; the banner does.
 */
export function readSshBanner(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const socket = net.connect({host, port});
    const finish = (error: Error | undefined, banner?: string) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (error) reject(error);
      else resolve(banner!);
    };

    const onAbort = () => finish(Object.assign(new Error('aborted'), {name: 'AbortError'}));
    const timer = setTimeout(() => finish(new Error(`no SSH banner from ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
    signal?.addEventListener('abort', onAbort, {once: true});
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      // RFC 4253 4.2: the server may send other lines before the identification string.
      for (const line of buffered.split('\n').slice(0, -1)) {
        if (line.startsWith('SSH-')) return finish(undefined, line.replace(/\r$/, ''));
      }

      if (buffered.length > 8192) finish(new Error(`${host}:${port} does not speak SSH`));
    });
    socket.on('error', (error) => finish(error));
    socket.on('close', () => finish(new Error(`${host}:${port} closed the connection before its SSH banner`)));
    if (signal?.aborted) onAbort();
  });
}
