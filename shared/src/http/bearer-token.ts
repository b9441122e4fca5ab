// The credential of an `Authorization: Bearer <token>` header: how every listener of ours reads a presented token.

// RFC 6750's scheme name is case-insensitive; one token, no spaces inside, blanks around it forgiven.
const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/**
 * The token of a Bearer `Authorization` header, or undefined: no header, another scheme, an empty or
 * two-part token, or the header sent more than once (a list: which one would count is anyone's guess).
 * @example
 * const token = bearerToken(req.headers.authorization);
 * if (token === undefined) return refuse('Missing token: send Authorization: Bearer <TOKEN>');
 */
export function bearerToken(header: string | readonly string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  return BEARER.exec(header)?.[1];
}
