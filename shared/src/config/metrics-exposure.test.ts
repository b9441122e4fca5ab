import { describeMetrics, planMetrics } from './metrics-exposure.js';

const token = 'm'.repeat(32);

describe('planMetrics', () => {
  it('gateway and node default: off until METRICS_TOKEN or METRICS_PORT is set, and it says which to set', () => {
    const off = planMetrics({ port: undefined, token: undefined });
    expect(off).toMatchObject({ where: 'off' });
    expect(describeMetrics(off, '0.0.0.0', 8090)).toMatch(/^off \(set METRICS_TOKEN .* or METRICS_PORT/);
    expect(planMetrics({ port: undefined, token })).toEqual({ where: 'main', token, tokenVariable: 'METRICS_TOKEN' });
  });

  it('a port of its own: token optional there', () => {
    expect(planMetrics({ port: 9100, token: undefined })).toEqual({ where: 'own', port: 9100 });
    expect(planMetrics({ port: 9100, token })).toEqual({
      where: 'own',
      port: 9100,
      token,
      tokenVariable: 'METRICS_TOKEN',
    });
  });

  it('worker: the default port unless METRICS_PORT says otherwise; 0 is off everywhere', () => {
    expect(planMetrics({ port: undefined, token: undefined, defaultPort: 9464 })).toEqual({ where: 'own', port: 9464 });
    expect(planMetrics({ port: 0, token, defaultPort: 9464 })).toEqual({ where: 'off', reason: 'METRICS_PORT=0' });
    expect(planMetrics({ port: 0, token })).toMatchObject({ where: 'off' });
  });
});

describe('describeMetrics', () => {
  it('names the address and the token variable, never the token', () => {
    const line = describeMetrics({ where: 'main', token, tokenVariable: 'METRICS_TOKEN' }, '0.0.0.0', 8080);
    expect(line).toBe('http://0.0.0.0:8080/metrics (token: METRICS_TOKEN)');
    expect(line).not.toContain(token);
    expect(describeMetrics({ where: 'own', port: 9464 }, '::1')).toBe(
      'http://[::1]:9464/metrics (no token: keep the port private to the scraper)',
    );
  });
});
