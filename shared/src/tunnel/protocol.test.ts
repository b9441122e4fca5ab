import { parseReplicas } from './protocol.js';

describe('parseReplicas', () => {
  it('reads ids with their direct URLs, skipping duplicates and ids that cannot name a replica', () => {
    expect(parseReplicas('gw-1, gw-2,gw-1,bad id,', 'gw-2=http://127.0.0.1:8082,junk')).toEqual([
      { id: 'gw-1' },
      { id: 'gw-2', url: 'http://127.0.0.1:8082' },
    ]);
  });

  it('reads nothing from absent headers', () => {
    expect(parseReplicas(undefined, undefined)).toEqual([]);
  });
});
