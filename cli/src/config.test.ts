// Where the CLI finds its connection: SWITCHYARD_URL, and the first token variable set (empty counts as unset).
import { readCliEnv } from './config.js';

describe('readCliEnv', () => {
  it('takes the token from SWITCHYARD_ADMIN_TOKEN, else ADMIN_TOKEN, else ADMIN_READ_TOKEN, and names the variable', () => {
    expect(readCliEnv({ SWITCHYARD_ADMIN_TOKEN: 'own', ADMIN_TOKEN: 'admin', ADMIN_READ_TOKEN: 'read' })).toEqual({
      url: undefined,
      token: 'own',
      tokenVar: 'SWITCHYARD_ADMIN_TOKEN',
    });
    expect(readCliEnv({ SWITCHYARD_ADMIN_TOKEN: ' ', ADMIN_TOKEN: 'admin', ADMIN_READ_TOKEN: 'read' })).toMatchObject({
      token: 'admin',
      tokenVar: 'ADMIN_TOKEN',
    });
    expect(readCliEnv({ ADMIN_READ_TOKEN: ' read ', SWITCHYARD_URL: 'http://127.0.0.1:9090' })).toEqual({
      url: 'http://127.0.0.1:9090',
      token: 'read',
      tokenVar: 'ADMIN_READ_TOKEN',
    });
    expect(readCliEnv({})).toEqual({ url: undefined, token: undefined, tokenVar: undefined });
  });
});
