// GET /v1/models for both SDKs (docs/OPENAI.md, "Models"): Anthropic's list gains OpenAI's fields, errors pass as
// Anthropic's; then the real `openai` and `anthropic` SDKs list the same translated answer from loopback.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Anthropic } from '@anthropic-ai/sdk';
import { OpenAI } from 'openai';
import { AppError } from '@switchyard/shared';
import { modelsListTranslation } from './models-list.js';

const JSON_HEADERS = { 'content-type': 'application/json' };
const ANTHROPIC_LIST = {
  data: [
    {
      type: 'model',
      id: 'claude-sonnet-4-5-20250929',
      display_name: 'Claude Sonnet 4.5',
      created_at: '2025-09-29T00:00:00Z',
    },
    {
      type: 'model',
      id: 'claude-opus-4-1-20250805',
      display_name: 'Claude Opus 4.1',
      created_at: 'not a date',
      capabilities: null,
    },
  ],
  has_more: false,
  first_id: 'claude-sonnet-4-5-20250929',
  last_id: 'claude-opus-4-1-20250805',
};

function translate(
  status: number,
  body: string,
  headers: Record<string, string> = JSON_HEADERS,
): { text: string; contentType: string } {
  const translator = modelsListTranslation().open(status, headers);
  let text = '';
  const bytes = Buffer.from(body);
  for (let at = 0; at < bytes.length; at += 5) text += translator.push(bytes.subarray(at, at + 5));
  return { text: text + translator.end(), contentType: translator.contentType };
}

describe('modelsListTranslation', () => {
  it("keeps Anthropic's fields and adds OpenAI's to the list and each model", () => {
    const { text, contentType } = translate(200, JSON.stringify(ANTHROPIC_LIST));
    expect(contentType).toBe('application/json');
    expect(JSON.parse(text)).toEqual({
      object: 'list',
      ...ANTHROPIC_LIST,
      data: [
        { ...ANTHROPIC_LIST.data[0], object: 'model', created: 1_759_104_000, owned_by: 'anthropic' },
        { ...ANTHROPIC_LIST.data[1], object: 'model', created: 0, owned_by: 'anthropic' },
      ],
    });
  });

  it.each([
    [404, JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: 'Not found' } })],
    [500, '<html>oops</html>'],
    [200, '{"data": "not a list"}'],
    [200, 'not json'],
  ])('passes a %i answer it does not translate unchanged: %s', (status, body) => {
    expect(translate(status, body).text).toBe(body);
  });

  it("answers the gateway's own errors and a broken body in Anthropic's envelope", () => {
    const translation = modelsListTranslation();
    expect(
      JSON.parse(translation.errorBody(new AppError('upstream_unreachable', 'No node answered'), 'req_1')),
    ).toEqual({
      type: 'error',
      error: { type: 'api_error', message: 'No node answered' },
      request_id: 'req_1',
    });
    const translator = translation.open(200, JSON_HEADERS);
    translator.push(Buffer.from('{"data":['));
    expect(JSON.parse(translator.broke('cut'))).toEqual({
      type: 'error',
      error: { type: 'api_error', message: 'cut' },
    });
  });
});

describe('both SDKs list the translated answer', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      const translator = modelsListTranslation().open(200, JSON_HEADERS);
      res.writeHead(200, { 'content-type': translator.contentType });
      res.end(translator.push(Buffer.from(JSON.stringify(ANTHROPIC_LIST))) + translator.end());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => new Promise<void>((r) => server.close(() => r())));

  it('openai: models.list() gives object, created and owned_by', async () => {
    const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'x', maxRetries: 0 });
    const models = [];
    for await (const model of openai.models.list()) models.push(model);
    expect(models.map((m) => [m.id, m.object, m.created, m.owned_by])).toEqual([
      ['claude-sonnet-4-5-20250929', 'model', 1_759_104_000, 'anthropic'],
      ['claude-opus-4-1-20250805', 'model', 0, 'anthropic'],
    ]);
  });

  it('anthropic: models.list() gives type, display_name and created_at, and pages by has_more', async () => {
    const anthropic = new Anthropic({ baseURL: base, apiKey: 'x', maxRetries: 0 });
    const models = [];
    for await (const model of anthropic.models.list()) models.push(model);
    expect(models.map((m) => [m.type, m.id, m.display_name, m.created_at])).toEqual(
      ANTHROPIC_LIST.data.map((m) => [m.type, m.id, m.display_name, m.created_at]),
    );
  });
});
