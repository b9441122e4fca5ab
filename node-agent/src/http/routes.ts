/** The routes the forwarding app serves: the three Anthropic ones it forwards. */
export type NodeRoute = 'messages' | 'count_tokens' | 'models';

/** The path without its query string. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** The route for a method and path (query ignored), or undefined for anything else (404). */
export function routeOf(method: string | undefined, path: string): NodeRoute | undefined {
  if (method === 'POST') {
    if (path === '/v1/messages') return 'messages';
    if (path === '/v1/messages/count_tokens') return 'count_tokens';
    return undefined;
  }
  if (method === 'GET' && path === '/v1/models') return 'models';
  return undefined;
}
