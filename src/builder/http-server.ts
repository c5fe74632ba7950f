import {createReadStream} from 'node:fs';
import {stat} from 'node:fs/promises';
import http from 'node:http';
import type {AddressInfo} from 'node:net';
import path from 'node:path';
import {BoxError, InterruptedError} from '../core/errors.js';

export interface HttpRequestLog {
  time: string;
  method: string;
  path: string;
  status: number;
  remote: string;
  bytes: number;
}

export interface BuildHttpServerOptions {
  /** Rendered answer files, served from memory: URL path (no leading slash) → content. */
  files: ReadonlyMap<string, string | Buffer>;
  /** A folder whose files are served as they are (a template's `http/` folder). */
  directory?: string;
  /**
   * Address to listen on. The guest reaches the host as 10.0.2.2 through QEMU (and VirtualBox)
   * user networking, which connects to the host's loopback, so 127.0.0.1 is enough and keeps
   * answer files (which hold passwords) off the LAN.
   */
  host?: string;
  port?: number;
  onRequest?: (entry: HttpRequestLog) => void;
}

/**
 * The HTTP server an installer fetches its answer file from. Logs every request and can tell
 * when a given path was fetched, which is how a build knows the installer got going.
 */
export class BuildHttpServer {
  readonly log: HttpRequestLog[] = [];
  private server?: http.Server;
  private waiters: Array<{path: string; resolve: () => void}> = [];

  constructor(private readonly options: BuildHttpServerOptions) {}

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  get listening(): boolean {
    return Boolean(this.server?.listening);
  }

  async start(): Promise<number> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) => reject(new BoxError('ERR_HTTP_SERVER', `Could not start the build HTTP server on ${this.options.host ?? '127.0.0.1'}:${this.options.port ?? 0}: ${error.message}`, {hint: 'Choose another port or stop what is using it.'})));
      server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', resolve);
    });
    return this.port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** True once a successful GET of `urlPath` was served. */
  fetched(urlPath: string): boolean {
    const wanted = normalize(urlPath);
    return this.log.some((e) => e.status === 200 && e.method === 'GET' && normalize(e.path) === wanted);
  }

  /** Resolves when `urlPath` has been fetched; rejects on timeout (message says why that happens) or abort. */
  async waitForFetch(urlPath: string, options: {timeoutMs: number; signal?: AbortSignal}): Promise<void> {
    if (this.fetched(urlPath)) return;
    await new Promise<void>((resolve, reject) => {
      const waiter = {path: normalize(urlPath), resolve: () => finish()};
      const timer = setTimeout(() => {
        finish(new BoxError('ERR_ANSWER_NOT_FETCHED', `The installer did not fetch /${waiter.path} from http://127.0.0.1:${this.port} within ${Math.round(options.timeoutMs / 1000)} s${this.log.length === 0 ? ' (no request reached the server at all)' : ` (requests seen: ${this.log.map((e) => `${e.method} ${e.path} ${e.status}`).join(', ')})`}.`, {
          hint: 'Usual causes: a host firewall blocking the build HTTP server port, a guest network that cannot reach the host (VPN, a NIC the installer has no driver for, not user-mode NAT), or a boot command that was mistyped or typed too fast (raise boot_wait or boot_key_interval). Run with --on-error abort and look at the VM\'s screen/serial log.',
        }));
      }, options.timeoutMs);
      const onAbort = (): void => finish(new InterruptedError());
      options.signal?.addEventListener('abort', onAbort, {once: true});
      const finish = (error?: Error): void => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        if (error) reject(error);
        else resolve();
      };
      if (options.signal?.aborted) return onAbort();
      this.waiters.push(waiter);
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let urlPath: string;
    try {
      urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      urlPath = req.url ?? '/';
      res.writeHead(400).end();
      // Logged like any other request: a mangled URL is often the clue to a mistyped boot command.
      const entry: HttpRequestLog = {time: new Date().toISOString(), method: req.method ?? '?', path: urlPath, status: 400, remote: req.socket.remoteAddress ?? '', bytes: 0};
      this.log.push(entry);
      this.options.onRequest?.(entry);
      return;
    }
    const key = normalize(urlPath);
    let status = 404;
    let bytes = 0;
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        status = 405;
        res.writeHead(405).end();
      } else if (this.options.files.has(key)) {
        const body = Buffer.from(this.options.files.get(key)!);
        status = 200;
        bytes = body.length;
        res.writeHead(200, {'content-type': contentType(key), 'content-length': body.length});
        res.end(req.method === 'HEAD' ? undefined : body);
      } else {
        const file = this.options.directory ? safeJoin(this.options.directory, key) : undefined;
        const info = file ? await stat(file).catch(() => undefined) : undefined;
        if (file && info?.isFile()) {
          status = 200;
          bytes = info.size;
          res.writeHead(200, {'content-type': contentType(key), 'content-length': info.size});
          if (req.method === 'HEAD') res.end();
          else createReadStream(file).pipe(res);
        } else {
          res.writeHead(404, {'content-type': 'text/plain'}).end(`not found: ${urlPath}\n`);
        }
      }
    } finally {
      const entry: HttpRequestLog = {time: new Date().toISOString(), method: req.method ?? '?', path: urlPath, status, remote: req.socket.remoteAddress ?? '', bytes};
      this.log.push(entry);
      this.options.onRequest?.(entry);
      if (status === 200 && req.method === 'GET') for (const w of [...this.waiters]) if (w.path === key) w.resolve();
    }
  }
}

function normalize(p: string): string {
  return p.replace(/^\/+/, '');
}

/** Joins inside `root` only: `..` and absolute paths never escape the served folder. */
function safeJoin(root: string, rel: string): string | undefined {
  const full = path.resolve(root, rel);
  return full.startsWith(path.resolve(root) + path.sep) ? full : undefined;
}

function contentType(p: string): string {
  if (p.endsWith('.xml')) return 'application/xml';
  if (p.endsWith('.json')) return 'application/json';
  return 'text/plain; charset=utf-8';
}
