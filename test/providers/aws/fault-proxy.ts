import http from 'node:http';
import {setTimeout as sleep} from 'node:timers/promises';

/**
 * A real HTTP proxy in front of moto that answers chosen EC2 actions with an EC2 error
 * document (as AWS would: throttling, capacity, auth failures) and forwards everything else.
 * Lets tests drive the SDK's own retry and error paths without mocking the client.
 *
 * It can also lose an answer after the emulator acted (`after: 'drop'` resets the connection,
 * so the SDK retries a call that already happened; `after: 'hold'` never answers, so a test can
 * kill box in the middle of a call), and split Describe* answers into pages (`paging`) with a
 * NextToken, as EC2 does for large accounts, for the actions moto answers in one piece.
 *
 * It also keeps one promise of EC2 that moto does not: RunInstances with a ClientToken it has
 * already carried out answers the first launch again instead of launching another instance
 * (EC2's idempotency), so a retried launch behaves here as it does on AWS.
 *
 * And one more: hibernation. moto stops an instance plainly when StopInstances asks it to
 * hibernate, and says so in the instance's StateReason (Client.UserInitiatedShutdown). EC2 says
 * Client.UserInitiatedHibernate for an instance it hibernated, and falls back to a plain stop
 * when the guest cannot hibernate. The proxy answers DescribeInstances as EC2 would after a
 * hibernation, until the instance is started, stopped again or terminated; `hibernation:
 * 'falls-back'` leaves moto's plain stop showing, as EC2's fallback does.
 */
export interface Fault {
  action: string;
  /** Answer with this EC2 error instead of forwarding (status + code). */
  status?: number;
  code?: string;
  message?: string;
  /** Forward to the emulator (which acts), then lose the answer: reset the connection, or never answer. */
  after?: 'drop' | 'hold';
  /** Answer `status` with an HTML page instead of an EC2 error document (an emulator that lacks the action, a proxy error page). */
  html?: boolean;
  /** Forward to the emulator after this many milliseconds (a slow network or API). */
  delayMs?: number;
  /** How many requests to fail before passing through (default: all of them). */
  times?: number;
  /** Let this many matching requests through before faulting. */
  skip?: number;
  /** Only requests whose form parameters pass this test (e.g. one variant of a call). */
  when?: (params: URLSearchParams) => boolean;
}

export interface FaultProxy {
  url: string;
  /** Requests seen per EC2 action (including failed ones). */
  hits: Map<string, number>;
  /** Every request, in order: its action, form parameters and the fault applied to it. */
  requests: Array<{action: string; params: URLSearchParams; fault?: string}>;
  faults: Fault[];
  /** Page size per Describe* action: answers carry at most that many items and a nextToken. */
  paging: Record<string, number>;
  /** What a StopInstances with Hibernate=true does: hibernate (the default), or EC2's fallback to a plain stop. */
  hibernation: 'works' | 'falls-back';
  /** Resolves once a request for `action` (passing `when`) was seen (and, for an `after` fault, acted on upstream). */
  seen(action: string, when?: (params: URLSearchParams) => boolean): Promise<void>;
  close(): Promise<void>;
}

/** The XML element holding the items of each pageable answer. */
const LIST_ELEMENT: Record<string, string> = {
  DescribeInstances: 'reservationSet',
  DescribeImages: 'imagesSet',
  DescribeSnapshots: 'snapshotSet',
  DescribeSecurityGroups: 'securityGroupInfo',
  DescribeSubnets: 'subnetSet',
  DescribeImportImageTasks: 'importImageTaskSet',
  DescribeExportImageTasks: 'exportImageTaskSet',
};

/** The top-level `<item>` elements of `<element>`, split by counting nested `<item>` tags. */
function splitItems(xml: string, element: string): {before: string; items: string[]; after: string} | undefined {
  const open = xml.indexOf(`<${element}>`);
  const close = xml.lastIndexOf(`</${element}>`);
  if (open === -1 || close === -1) return undefined;
  const start = open + element.length + 2;
  const inner = xml.slice(start, close);
  const items: string[] = [];
  const tag = /<item>|<\/item>/g;
  let depth = 0;
  let itemStart = 0;
  for (let m = tag.exec(inner); m; m = tag.exec(inner)) {
    if (m[0] === '<item>') {
      if (depth === 0) itemStart = m.index;
      depth++;
    } else if (--depth === 0) {
      items.push(inner.slice(itemStart, m.index + m[0].length));
    }
  }
  return {before: xml.slice(0, start), items, after: xml.slice(close)};
}

/** One page of an answer: items [offset, offset+size), and a nextToken when more remain. */
function page(xml: string, action: string, offset: number, size: number): string {
  const split = splitItems(xml, LIST_ELEMENT[action]);
  if (!split) return xml;
  const more = split.items.length > offset + size;
  let out = split.before + split.items.slice(offset, offset + size).join('') + split.after;
  out = out.replace(/<nextToken>[^<]*<\/nextToken>/, '');
  if (more) out = out.replace(/(<\/\w+Response>\s*)$/, `<nextToken>${offset + size}</nextToken>$1`);
  return out;
}

function describe(fault: Fault): string {
  if (fault.after) return `${fault.after} after acting`;
  if (fault.delayMs) return `${fault.delayMs} ms late`;
  return fault.html ? `${fault.status ?? 500} html` : `${fault.status ?? 400} ${fault.code}`;
}

function forward(url: URL, method: string, headers: http.OutgoingHttpHeaders, body: Buffer): Promise<{status: number; headers: http.IncomingHttpHeaders; body: Buffer}> {
  return new Promise((resolve, reject) => {
    const upstream = http.request(url, {method, headers}, (up) => {
      const chunks: Buffer[] = [];
      up.on('data', (c: Buffer) => chunks.push(c));
      up.on('end', () => resolve({status: up.statusCode ?? 502, headers: up.headers, body: Buffer.concat(chunks)}));
      up.on('error', reject);
    });
    upstream.on('error', reject);
    upstream.end(body);
  });
}

export async function startFaultProxy(target: string, faults: Fault[] = []): Promise<FaultProxy> {
  const hits = new Map<string, number>();
  const requests: FaultProxy['requests'] = [];
  const state = {faults, paging: {} as Record<string, number>, hibernation: 'works' as FaultProxy['hibernation']};
  const waiters: Array<{action: string; when?: (params: URLSearchParams) => boolean; resolve: () => void}> = [];
  const held = new Set<http.ServerResponse>();
  const skipped = new Map<Fault, number>();
  const launches = new Map<string, {status: number; headers: http.IncomingHttpHeaders; body: Buffer}>();
  const hibernated = new Set<string>();
  const notify = (action: string, params: URLSearchParams) => {
    for (const w of waiters.filter((x) => x.action === action && (!x.when || x.when(params)))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      let body = Buffer.concat(chunks);
      const params = new URLSearchParams(body.toString('utf8'));
      const action = params.get('Action') ?? new URL(req.url ?? '/', 'http://x').searchParams.get('Action') ?? '';
      hits.set(action, (hits.get(action) ?? 0) + 1);
      const matching = state.faults.filter((f) => f.action === action && (f.times === undefined || f.times > 0) && (!f.when || f.when(params)));
      const fault = matching.find((f) => (skipped.get(f) ?? 0) >= (f.skip ?? 0));
      for (const f of matching) if (f !== fault) skipped.set(f, (skipped.get(f) ?? 0) + 1);
      if (fault && fault.times !== undefined) fault.times--;
      requests.push({action, params, ...(fault ? {fault: describe(fault)} : {})});
      if (fault?.delayMs) await sleep(fault.delayMs);
      if (fault && !fault.after && !fault.delayMs) {
        notify(action, params);
        if (fault.html) {
          res.writeHead(fault.status ?? 500, {'content-type': 'text/html'});
          res.end(`<!doctype html><html><head><title>${fault.status ?? 500} Internal Server Error</title></head><body><h1>Internal Server Error</h1><p>${fault.message ?? 'The server encountered an internal error.'}</p></body></html>`);
          return;
        }
        res.writeHead(fault.status ?? 400, {'content-type': 'text/xml'});
        res.end(`<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${fault.code}</Code><Message>${fault.message ?? fault.code}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>`);
        return;
      }
      const pageSize = state.paging[action];
      const offset = pageSize ? Number(params.get('NextToken') ?? 0) : 0;
      if (pageSize) {
        // The emulator answers the whole list; the proxy cuts the page.
        params.delete('NextToken');
        params.delete('MaxResults');
        body = Buffer.from(params.toString());
      }
      const headers = {...req.headers, 'content-length': String(body.length)};
      const token = action === 'RunInstances' ? params.get('ClientToken') : null;
      let answer: {status: number; headers: http.IncomingHttpHeaders; body: Buffer};
      try {
        answer = (token && launches.get(token)) || await forward(new URL(req.url ?? '/', target), req.method ?? 'POST', headers, body);
      } catch (error) {
        res.writeHead(502);
        res.end(String(error));
        return;
      }
      if (token && answer.status === 200) launches.set(token, answer);
      if (answer.status === 200) trackHibernation(hibernated, action, params, state.hibernation);
      notify(action, params);
      if (fault?.after === 'drop') {
        res.socket?.destroy();
        return;
      }
      if (fault?.after === 'hold') {
        held.add(res);
        return;
      }
      let out = answer.body;
      if (action === 'DescribeInstances' && answer.status === 200 && hibernated.size > 0) out = Buffer.from(asHibernated(out.toString('utf8'), hibernated));
      if (pageSize && answer.status === 200) out = Buffer.from(page(out.toString('utf8'), action, offset, pageSize));
      const {'transfer-encoding': _chunked, ...upHeaders} = answer.headers;
      res.writeHead(answer.status, {...upHeaders, 'content-length': String(out.length)});
      res.end(out);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const {port} = server.address() as {port: number};
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    requests,
    get faults() { return state.faults; },
    set faults(f: Fault[]) { state.faults = f; },
    get paging() { return state.paging; },
    set paging(p: Record<string, number>) { state.paging = p; },
    get hibernation() { return state.hibernation; },
    set hibernation(h: FaultProxy['hibernation']) { state.hibernation = h; },
    seen: (action: string, when?: (params: URLSearchParams) => boolean) => new Promise<void>((resolve) => { waiters.push({action, when, resolve}); }),
    close: () => new Promise((resolve) => {
      for (const res of held) res.socket?.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  } as FaultProxy;
}

/** The instances of a call (InstanceId.1, InstanceId.2, ...). */
function instanceIds(params: URLSearchParams): string[] {
  return [...params.entries()].filter(([key]) => /^InstanceId\.\d+$/.test(key)).map(([, id]) => id);
}

/** Keeps the set of instances EC2 would have hibernated: from a StopInstances with Hibernate=true that worked, until the next start, stop or termination. */
function trackHibernation(hibernated: Set<string>, action: string, params: URLSearchParams, mode: FaultProxy['hibernation']): void {
  if (!['StopInstances', 'StartInstances', 'TerminateInstances'].includes(action)) return;
  for (const id of instanceIds(params)) {
    if (action === 'StopInstances' && params.get('Hibernate') === 'true' && mode === 'works') hibernated.add(id);
    else hibernated.delete(id);
  }
}

/** A DescribeInstances answer with EC2's StateReason for each hibernated instance in place of moto's plain-stop one. */
function asHibernated(xml: string, hibernated: Set<string>): string {
  const reason = '<stateReason><code>Client.UserInitiatedHibernate</code><message>Client.UserInitiatedHibernate: User initiated hibernate</message></stateReason>';
  return xml.replace(/<instancesSet>([\s\S]*?)<\/instancesSet>/g, (_set, items: string) => `<instancesSet>${instanceItems(items).map((item) => {
    const id = /<instanceId>([^<]+)<\/instanceId>/.exec(item)?.[1];
    return id && hibernated.has(id) ? item.replace(/<stateReason>[\s\S]*?<\/stateReason>|<stateReason\/>/, reason) : item;
  }).join('')}</instancesSet>`);
}

/** The top-level <item> elements of an instancesSet (an instance's own fields hold nested items). */
function instanceItems(xml: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let start = 0;
  for (const tag of xml.matchAll(/<(\/?)item>/g)) {
    if (tag[1] === '') {
      if (depth === 0) start = tag.index;
      depth++;
    } else if (--depth === 0) {
      items.push(xml.slice(start, tag.index + tag[0].length));
    }
  }
  return items;
}
