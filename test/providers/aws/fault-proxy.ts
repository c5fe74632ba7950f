import http from 'node:http';

/**
 * A real HTTP proxy in front of moto that answers chosen EC2 actions with an EC2 error
 * document (as AWS would: throttling, capacity, auth failures) and forwards everything else.
 * Lets tests drive the SDK's own retry and error paths without mocking the client.
 */
export interface Fault {
  action: string;
  status: number;
  code: string;
  message?: string;
  /** How many requests to fail before passing through (default: all of them). */
  times?: number;
}

export interface FaultProxy {
  url: string;
  /** Requests seen per EC2 action (including failed ones). */
  hits: Map<string, number>;
  faults: Fault[];
  close(): Promise<void>;
}

export async function startFaultProxy(target: string, faults: Fault[] = []): Promise<FaultProxy> {
  const hits = new Map<string, number>();
  const state = {faults};
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const action = new URLSearchParams(body.toString('utf8')).get('Action') ?? new URL(req.url ?? '/', 'http://x').searchParams.get('Action') ?? '';
      hits.set(action, (hits.get(action) ?? 0) + 1);
      const fault = state.faults.find((f) => f.action === action && (f.times === undefined || f.times > 0));
      if (fault) {
        if (fault.times !== undefined) fault.times--;
        res.writeHead(fault.status, {'content-type': 'text/xml'});
        res.end(`<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${fault.code}</Code><Message>${fault.message ?? fault.code}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>`);
        return;
      }
      const upstream = http.request(new URL(req.url ?? '/', target), {method: req.method, headers: req.headers}, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const {port} = server.address() as {port: number};
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    get faults() { return state.faults; },
    set faults(f: Fault[]) { state.faults = f; },
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  } as FaultProxy;
}
