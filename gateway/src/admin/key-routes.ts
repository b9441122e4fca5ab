// /admin/keys: create (the key is shown once), list, read, edit, revoke. Responses never carry digests.
import express, { type Request, type Response, type Router } from 'express';
import { AppError, type Logger } from '@switchyard/shared';
import { toKeyView, type KeyRepository } from '../keys/index.js';
import { parseBody } from './admin-errors.js';
import { CreateKeyBodySchema, UpdateKeyBodySchema } from './admin-schemas.js';

function keyNotFound(): AppError {
  return new AppError('not_found', 'No key with this id');
}

/** The key routes over a repository. */
export function createKeyRoutes(deps: { repo: KeyRepository; log: Logger }): Router {
  const { repo, log } = deps;
  const router = express.Router();

  router.post('/keys', async function createKey(req: Request, res: Response): Promise<void> {
    const settings = parseBody(CreateKeyBodySchema, req.body);
    const { key, record } = await repo.create(settings);
    log.info('key created', { keyId: record.id, name: record.name, hint: record.hint });
    // The only response that ever carries the key: keep it out of every cache.
    res
      .status(201)
      .setHeader('cache-control', 'no-store')
      .json({ key, record: toKeyView(record) });
  });

  router.get('/keys', async function listKeys(_req: Request, res: Response): Promise<void> {
    const records = await repo.list();
    res.json({ keys: records.map(toKeyView) });
  });

  router.get('/keys/:id', async function getKey(req: Request<{ id: string }>, res: Response): Promise<void> {
    const record = await repo.get(req.params.id);
    if (!record) throw keyNotFound();
    res.json(toKeyView(record));
  });

  router.patch('/keys/:id', async function updateKey(req: Request<{ id: string }>, res: Response): Promise<void> {
    const changes = parseBody(UpdateKeyBodySchema, req.body);
    const record = await repo.update(req.params.id, changes);
    if (!record) throw keyNotFound();
    log.info('key updated', { keyId: record.id, fields: Object.keys(changes) });
    res.json(toKeyView(record));
  });

  router.delete('/keys/:id', async function revokeKey(req: Request<{ id: string }>, res: Response): Promise<void> {
    if (!(await repo.revoke(req.params.id))) throw keyNotFound();
    log.info('key revoked', { keyId: req.params.id });
    res.json({ id: req.params.id, revoked: true });
  });

  return router;
}
