// The only place the CLI reads its environment: where the gateway is and the admin token.

/** What the environment says about the connection; flags override it. */
export interface CliEnv {
  /** SWITCHYARD_URL. */
  url: string | undefined;
  /** SWITCHYARD_ADMIN_TOKEN, else ADMIN_TOKEN (the gateway's own variable, handy on the gateway's host). */
  token: string | undefined;
  /** The variable the token came from, to name in a "refused" message. */
  tokenVar: 'SWITCHYARD_ADMIN_TOKEN' | 'ADMIN_TOKEN' | undefined;
}

/** The gateway the CLI talks to when neither --url nor SWITCHYARD_URL says otherwise. */
export const DEFAULT_GATEWAY_URL = 'http://127.0.0.1:8080';

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** Reads the CLI's environment variables (empty counts as unset). */
export function readCliEnv(env: NodeJS.ProcessEnv = process.env): CliEnv {
  const own = nonEmpty(env.SWITCHYARD_ADMIN_TOKEN);
  const gateways = nonEmpty(env.ADMIN_TOKEN);
  return {
    url: nonEmpty(env.SWITCHYARD_URL),
    token: own ?? gateways,
    tokenVar: own !== undefined ? 'SWITCHYARD_ADMIN_TOKEN' : gateways !== undefined ? 'ADMIN_TOKEN' : undefined,
  };
}
