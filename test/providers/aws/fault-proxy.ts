import http from 'node:http';
import {setTimeout as sleep} from 'node:timers/promises';

/**
 * A real HTTP proxy in front of moto that misbehaves the way the EC2 API and the networks in
 * front of it do, for chosen actions: an EC2 error document (throttling, capacity, auth, 500s),
 * a non-XML 500 (a load balancer's HTML page), a delay, or a response dropped AFTER moto acted
 * (the connection is cut once the request was carried out, so the SDK retries something that
 * already happened). Everything else is forwarded. Lets tests drive the SDK's own retry and
 * error paths without mocking the client.
 *
 * It also keeps one promise of EC2 that moto does not: RunInstances with a ClientToken it has
 * already carried out answers the first launch again instead of launching another instance
 * (EC2's idempotency), so a retried launch behaves here as it does on AWS.
 */
export interface Fault {
  action: string;
  /**
   * error (default): answer with an EC2 error document, without forwarding.
   * html: answer 500 with an HTML page, without forwarding.
   * delay: forward after `delayMs`.
   * drop-after: forward, let moto act, then cut the connection without an answer.
   */
  kind?: 'error' | 'html' | 'delay' | 'drop-after';
  status?: number;
  code?: string;
  message?: string;
  delayMs?: number;
  /** How many matching requests to fault (default: all of them). */
  times?: number;
  /** Let this many matching requests through before faulting. */
  skip?: number;
  /** Only requests whose parameters match (e.g. CreateTags on an image). */
  match?: (params: URLSearchParams) => boolean;
}

export interface FaultProxy {
  url: string;
  /** Requests seen per EC2 action (including faulted ones). */
  hits: Map<string, number>;
  /** Every request, in order, with the fault applied to it. */
  log: Array<{action: string; fault?: string}>;
  faults: Fault[];
  close(): Promise<void>;
}

function errorDocument(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>`;
}

export async function startFaultProxy(target: string, faults: Fault[] = []): Promise<FaultProxy> {
  const hits = new Map<string, number>();
  const log: FaultProxy['log'] = [];
  const state = {faults};
  const seen = new Map<Fault, number>();
  const launches = new Map<string, {status: number; headers: http.IncomingHttpHeaders; body: Buffer}>();

  const forward = (req: http.IncomingMessage, body: Buffer): Promise<{status: number; headers: http.IncomingHttpHeaders; body: Buffer}> => new Promise((resolve, reject) => {
    const upstream = http.request(new URL(req.url ?? '/', target), {method: req.method, headers: req.headers}, (up) => {
      const chunks: Buffer[] = [];
      up.on('data', (c: Buffer) => chunks.push(c));
      up.on('end', () => resolve({status: up.statusCode ?? 502, headers: up.headers, body: Buffer.concat(chunks)}));
      up.on('error', reject);
    });
    upstream.on('error', reject);
    upstream.end(body);
  });

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const params = new URLSearchParams(body.toString('utf8'));
      const action = params.get('Action') ?? new URL(req.url ?? '/', 'http://x').searchParams.get('Action') ?? '';
      hits.set(action, (hits.get(action) ?? 0) + 1);
      const fault = state.faults.find((f) => f.action === action && (f.times === undefined || f.times > 0) && (!f.match || f.match(params)) && (seen.get(f) ?? 0) >= (f.skip ?? 0));
      for (const f of state.faults) if (f.action === action && (!f.match || f.match(params)) && f !== fault) seen.set(f, (seen.get(f) ?? 0) + 1);
      if (fault && fault.times !== undefined) fault.times--;
      const kind = fault?.kind ?? 'error';
      log.push({action, ...(fault ? {fault: kind === 'error' ? `${fault.status ?? 500} ${fault.code}` : kind} : {})});
      try {
        if (fault && kind === 'error') {
          res.writeHead(fault.status ?? 500, {'content-type': 'text/xml'});
          res.end(errorDocument(fault.code ?? 'InternalError', fault.message ?? fault.code ?? 'InternalError'));
          return;
        }
        if (fault && kind === 'html') {
          res.writeHead(fault.status ?? 500, {'content-type': 'text/html'});
          res.end('<html><body><h1>500 Internal Server Error</h1></body></html>');
          return;
        }
        if (fault && kind === 'delay') await sleep(fault.delayMs ?? 1000);
        const token = action === 'RunInstances' ? params.get('ClientToken') : null;
        const answer = (token && launches.get(token)) || await forward(req, body);
        if (token && answer.status === 200) launches.set(token, answer);
        if (fault && kind === 'drop-after') {
          // moto has done it; the client never hears so.
          req.socket.destroy();
          return;
        }
        res.writeHead(answer.status, answer.headers);
        res.end(answer.body);
      } catch (error) {
        res.writeHead(502);
        res.end(String(error));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const {port} = server.address() as {port: number};
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    log,
    get faults() { return state.faults; },
    set faults(f: Fault[]) { state.faults = f; },
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  } as FaultProxy;
}
