// One request: read and record it, then route it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { betasOf, presentedCredential } from './auth.js';
import type { FakeState, RequestContext } from './context.js';
import { BodyTooLargeError, readBody, sendError } from './http-io.js';
import { newRequestId } from './ids.js';
import { handleAuthorize, handleOAuthApi, handleToken } from './oauth-routes.js';
import type { RecordedRequest, RouteName } from './types.js';
import { dispatchV1 } from './v1-routes.js';

/** The route a method and path belong to. */
export function routeOf(method: string, path: string): RouteName {
  const read = method === 'GET' || method === 'HEAD';
  if (read && (path === '/' || path === '/api/hello')) return 'root';
  if (method === 'POST' && path === '/v1/messages') return 'messages';
  if (method === 'POST' && path === '/v1/messages/count_tokens') return 'count_tokens';
  if (method === 'GET' && (path === '/v1/models' || path.startsWith('/v1/models/'))) return 'models';
  if (method === 'POST' && path === '/v1/oauth/token') return 'token';
  if (method === 'GET' && path === '/oauth/authorize') return 'authorize';
  if (method === 'GET' && path === '/api/oauth/profile') return 'profile';
  if (method === 'GET' && path === '/api/oauth/usage') return 'usage';
  return 'not_found';
}

function lowerCaseHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

function newRecord(req: IncomingMessage, url: URL, route: RouteName, requestId: string): RecordedRequest {
  const credential = presentedCredential(req.headers);
  const record: RecordedRequest = {
    requestId,
    route,
    method: req.method ?? 'GET',
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers: lowerCaseHeaders(req),
    authKind: credential.authKind,
    betas: betasOf(req.headers),
    remoteAddress: req.socket.remoteAddress ?? '',
    bodyBytes: 0,
    body: undefined,
    receivedAt: Date.now(),
  };
  if (credential.bearer) record.accessToken = credential.bearer;
  if (credential.apiKey) record.apiKey = credential.apiKey;
  const session = req.headers['x-claude-code-session-id'];
  if (typeof session === 'string') record.sessionId = session;
  return record;
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** Reads, records and routes one request; `signal` aborts when the client or the fake goes away. */
export async function handleRequest(
  req: IncomingMessage,
  res: ServerResponse,
  state: FakeState,
  signal: AbortSignal,
): Promise<void> {
  const requestId = newRequestId();
  res.setHeader('request-id', requestId);
  const url = new URL(req.url ?? '/', 'http://fake-anthropic.local');
  const route = routeOf(req.method ?? 'GET', url.pathname);
  const record = newRecord(req, url, route, requestId);
  res.on('close', () => {
    if (res.headersSent) record.status = res.statusCode;
  });
  let body: Buffer;
  try {
    body = await readBody(req, state.options.maxBodyBytes);
  } catch (error) {
    state.recorder.addRequest(record);
    if (!(error instanceof BodyTooLargeError)) return void res.destroy();
    res.setHeader('connection', 'close');
    return sendError(res, 413, 'Request exceeds the maximum allowed number of bytes.', requestId);
  }
  const json = parseJson(body);
  record.bodyBytes = body.length;
  if (state.options.recordBodies) record.body = json;
  state.recorder.addRequest(record);
  state.emit('request', record);

  const ctx: RequestContext = {
    req,
    res,
    requestId,
    url,
    route,
    body,
    json,
    record,
    signal,
  };
  await dispatchRoute(ctx, state, body.length > 0 && json === undefined);
  if (res.headersSent) record.status = res.statusCode;
}

async function dispatchRoute(ctx: RequestContext, state: FakeState, unparsable: boolean): Promise<void> {
  const { res, requestId, route } = ctx;
  switch (route) {
    case 'root':
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(ctx.req.method === 'HEAD' ? undefined : 'fake-anthropic\n');
      return;
    case 'messages':
    case 'count_tokens':
      if (unparsable) return sendError(res, 400, 'The request body is not valid JSON.', requestId);
      return dispatchV1(ctx, state);
    case 'models':
      return dispatchV1(ctx, state);
    case 'token':
      return handleToken(ctx, state);
    case 'authorize':
      return handleAuthorize(ctx, state);
    case 'profile':
    case 'usage':
      return handleOAuthApi(ctx, state);
    case 'not_found':
      return sendError(res, 404, 'Not Found', requestId);
  }
}
