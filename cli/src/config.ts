// The only place the CLI reads its environment: where the gateway's admin API is and the token for it.

/** What the environment says about the connection; flags override it. */
export interface CliEnv {
  /** SWITCHYARD_URL. */
  url: string | undefined;
  /**
   * SWITCHYARD_ADMIN_TOKEN, else ADMIN_TOKEN, else ADMIN_READ_TOKEN (the gateway's own variables, handy on its host;
   * the read-only token serves the read commands only).
   */
  token: string | undefined;
  /** The variable the token came from, to name in a "refused" message. */
  tokenVar: TokenVariable | undefined;
}

/** Where the CLI may find its token, in the order it looks. */
export const TOKEN_VARIABLES = ['SWITCHYARD_ADMIN_TOKEN', 'ADMIN_TOKEN', 'ADMIN_READ_TOKEN'] as const;
export type TokenVariable = (typeof TOKEN_VARIABLES)[number];

/**
 * The gateway the CLI talks to when neither --url nor SWITCHYARD_URL says otherwise: the main port. A gateway with
 * ADMIN_PORT set serves the admin API on that port instead (e.g. http://127.0.0.1:9090).
 */
export const DEFAULT_GATEWAY_URL = 'http://127.0.0.1:8080';

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** Reads the CLI's environment variables (empty counts as unset). */
export function readCliEnv(env: NodeJS.ProcessEnv = process.env): CliEnv {
  const tokenVar = TOKEN_VARIABLES.find((name) => nonEmpty(env[name]) !== undefined);
  return {
    url: nonEmpty(env.SWITCHYARD_URL),
    token: tokenVar === undefined ? undefined : nonEmpty(env[tokenVar]),
    tokenVar,
  };
}
