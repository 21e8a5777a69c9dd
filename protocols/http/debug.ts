// GET /debug (scope "admin"): the live view of the node's actors. The page and its script are
// served from here (no hosted UI, no network access needed); its data comes by message only:
//   GET /debug/state   the inspection feed's snapshot (`inspection.snapshot`): live actors with their
//                      parents, systemIds, state values and statecharts; recent events; restarts
//   GET /debug/events  Server-Sent Events: `snapshot` first, then `changes` as the feed publishes
//                      them (`inspection.changes`): actors spawned and stopped, states, events
//   GET /debug/actors  the `node/actors` operation (the supervision tree as the catalogue gives it)
// A browser cannot send a bearer header when it opens a page, so /debug also takes the token from
// a cookie set by POST /debug/login (HttpOnly, Secure, SameSite=Strict, Path=/debug); a client
// certificate of a listed peer works too.
import { INSPECTION_SYSTEM_ID, type InspectionChange } from '../../supervisors/inspector.ts';
import { requireScopes, WWW_AUTHENTICATE } from './auth.ts';
import { readBody } from './body.ts';
import { DEBUG_HTML, DEBUG_LOGIN_HTML, DEBUG_SCRIPT } from './debugPage.ts';
import { httpProblem, HttpProblem } from './problem.ts';
import { EventStream, sendBody, sendJson } from './respond.ts';
import type { RequestContext } from './context.ts';
import type { Route, RouteTable } from './frontEnd.ts';

const FAVICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="6" fill="#5ec4ff"/></svg>';

export const DEBUG_COOKIE = 'alknet_debug_token';
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

async function requireAdmin(ctx: RequestContext, what: string): Promise<void> {
  requireScopes(await ctx.caller(), ['admin'], what);
}

async function page(ctx: RequestContext): Promise<void> {
  try {
    await requireAdmin(ctx, 'GET /debug');
  } catch (err) {
    // A browser without credentials gets a login form (still 401); anything else the problem.
    const accept = String(ctx.req.headers.accept ?? '');
    if (err instanceof HttpProblem && err.problem.status === 401 && accept.includes('text/html')) {
      sendBody(ctx.res, 401, 'text/html; charset=utf-8', DEBUG_LOGIN_HTML, { ...PAGE_HEADERS, 'www-authenticate': WWW_AUTHENTICATE });
      return;
    }
    throw err;
  }
  sendBody(ctx.res, 200, 'text/html; charset=utf-8', DEBUG_HTML, PAGE_HEADERS);
}

async function login(ctx: RequestContext): Promise<void> {
  const body = (await readBody(ctx.req, 4096)).toString('utf8');
  const token = new URLSearchParams(body).get('token')?.trim() ?? '';
  if (!/^alk_[A-Za-z0-9_-]{20,200}$/.test(token)) throw httpProblem(400, 'INVALID_INPUT', 'the form needs a token (alk_…)');
  // Checked now, so a wrong token is told at once (and a cookie is only set for a good one).
  requireScopes(await ctx.info.authorize(token), ['admin'], 'GET /debug');
  ctx.res.writeHead(303, {
    location: '/debug',
    'set-cookie': `${DEBUG_COOKIE}=${token}; Path=/debug; HttpOnly; Secure; SameSite=Strict; Max-Age=43200`,
    'cache-control': 'no-store',
    'content-length': '0',
  });
  ctx.res.end();
}

async function state(ctx: RequestContext): Promise<void> {
  await requireAdmin(ctx, 'GET /debug/state');
  sendJson(ctx.res, 200, await ctx.services.bus.request(INSPECTION_SYSTEM_ID, 'inspection.snapshot', {}, { deadlineMs: 5_000 }));
}

async function actors(ctx: RequestContext): Promise<void> {
  const caller = await ctx.caller();
  sendJson(ctx.res, 200, await ctx.services.operations.invoke('node/actors', {}, caller, { signal: ctx.signal }));
}

async function events(ctx: RequestContext): Promise<void> {
  await requireAdmin(ctx, 'GET /debug/events');
  if (ctx.info.eventStreams >= ctx.limits.maxEventStreamsPerConnection) {
    throw httpProblem(429, 'BUSY', `at most ${ctx.limits.maxEventStreamsPerConnection} event streams per connection`);
  }
  const { bus } = ctx.services;
  // Subscribe first and hold what comes until the snapshot is out, so nothing falls in between.
  let held: { changes: InspectionChange[]; dropped: number }[] | null = [];
  let stream: EventStream | null = null;
  const unsubscribe = bus.subscribe('inspection.changes', (batch) => {
    if (held) held.push(batch as { changes: InspectionChange[]; dropped: number });
    else stream?.push('changes', batch);
  });
  let snapshot;
  try {
    snapshot = await bus.request(INSPECTION_SYSTEM_ID, 'inspection.snapshot', {}, { deadlineMs: 5_000 });
  } catch (err) {
    unsubscribe();
    throw err;
  }
  ctx.info.eventStreams++;
  stream = new EventStream(ctx.res);
  stream.onClose(() => {
    unsubscribe();
    ctx.info.eventStreams--;
  });
  stream.push('snapshot', snapshot);
  for (const batch of held) {
    const changes = batch.changes.filter((c) => c.seq > snapshot.seq);
    if (changes.length) stream.push('changes', { changes, dropped: batch.dropped });
  }
  held = null;
}

export function debugRoutes(): RouteTable {
  const routes: [string, Route][] = [
    ['/debug', { methods: ['GET'], handle: page }],
    ['/debug/login', { methods: ['POST'], handle: login }],
    ['/debug/app.js', { methods: ['GET'], handle: async (ctx) => sendBody(ctx.res, 200, 'text/javascript; charset=utf-8', DEBUG_SCRIPT) }],
    ['/debug/state', { methods: ['GET'], handle: state }],
    ['/debug/actors', { methods: ['GET'], handle: actors }],
    ['/debug/events', { methods: ['GET'], handle: events }],
    ['/favicon.ico', { methods: ['GET'], handle: async (ctx) => sendBody(ctx.res, 200, 'image/svg+xml', FAVICON, { 'cache-control': 'max-age=86400' }) }],
  ];
  return new Map(routes);
}

/** The token of the /debug cookie, for requests under /debug without an Authorization header. */
export function debugCookieToken(path: string, cookie: string | string[] | undefined): string | undefined {
  if (!path.startsWith('/debug') || cookie === undefined) return undefined;
  const text = (Array.isArray(cookie) ? cookie.join('; ') : cookie).slice(0, 8192);
  for (const part of text.split(/;\s*/)) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at) === DEBUG_COOKIE) {
      const value = part.slice(at + 1);
      return /^alk_[A-Za-z0-9_-]{20,200}$/.test(value) ? value : undefined;
    }
  }
  return undefined;
}
