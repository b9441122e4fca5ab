// /admin/nodes enrolment: enrol a node (its token is answered once, only its digest is kept), revoke it, rotate
// its token. Every gateway replica polls the enrolments of the nodes connected to it and closes the tunnels of a
// revoked node, or of a token that is no longer current, within 5 s.
import express, { type Request, type Response, type Router } from 'express';
import { AppError, type Keyspace, type Logger, type SharedStore } from '@switchyard/shared';
import type { EnrolmentRepository, NodeEnrolment } from '../nodes/index.js';
import { ConflictError, parseBody } from './admin-errors.js';
import { EnrolNodeBodySchema } from './admin-schemas.js';

/** The node's own `.env` lines, but GATEWAY_URL: the address the node dials is the one the caller reached the gateway at. */
export interface NodeEnv {
  NODE_ID: string;
  NODE_TOKEN: string;
}

/** POST /admin/nodes and POST /admin/nodes/:id/token: the node's enrolment and its token, which no other answer carries. */
export interface NodeToken {
  nodeId: string;
  label?: string;
  /** The node's token (NODE_TOKEN). Shown this once: the gateway keeps only its digest. */
  token: string;
  tokenHint: string;
  createdAt: number;
  rotatedAt?: number;
  env: NodeEnv;
}

/** DELETE /admin/nodes/:id. */
export interface RevokedNode {
  nodeId: string;
  revoked: true;
}

function tokenAnswer(token: string, enrolment: NodeEnrolment): NodeToken {
  const { nodeId, label, tokenHint, createdAt, rotatedAt } = enrolment;
  return {
    nodeId,
    ...(label === undefined ? {} : { label }),
    token,
    tokenHint,
    createdAt,
    ...(rotatedAt === undefined ? {} : { rotatedAt }),
    env: { NODE_ID: nodeId, NODE_TOKEN: token },
  };
}

function nodeNotFound(): AppError {
  return new AppError('not_found', 'No enrolled node with this id');
}

/** Dependencies of the enrolment routes. */
export interface EnrolmentRoutesDeps {
  enrolments: Pick<EnrolmentRepository, 'create' | 'rotate' | 'revoke'>;
  store: Pick<SharedStore, 'del'>;
  keys: Pick<Keyspace, 'nodeControl'>;
  log: Logger;
}

/** The enrolment routes. */
export function createEnrolmentRoutes(deps: EnrolmentRoutesDeps): Router {
  const { enrolments, store, keys, log } = deps;
  const router = express.Router();

  router.post('/nodes', async function enrolNode(req: Request, res: Response): Promise<void> {
    const { id, label } = parseBody(EnrolNodeBodySchema, req.body);
    const made = await enrolments.create(id, label);
    if (made === undefined) {
      throw new ConflictError(
        `Node ${id} is already enrolled: rotate its token (POST /admin/nodes/${id}/token) or revoke it first`,
      );
    }
    log.info('node enrolled', { nodeId: id, tokenHint: made.enrolment.tokenHint });
    // The only answer that carries the token: keep it out of every cache.
    res.status(201).setHeader('cache-control', 'no-store').json(tokenAnswer(made.token, made.enrolment));
  });

  router.post(
    '/nodes/:id/token',
    async function rotateNodeToken(req: Request<{ id: string }>, res: Response): Promise<void> {
      const made = await enrolments.rotate(req.params.id);
      if (made === undefined) throw nodeNotFound();
      log.info('node token rotated', { nodeId: made.enrolment.nodeId, tokenHint: made.enrolment.tokenHint });
      res.setHeader('cache-control', 'no-store').json(tokenAnswer(made.token, made.enrolment));
    },
  );

  router.delete('/nodes/:id', async function revokeNode(req: Request<{ id: string }>, res: Response): Promise<void> {
    const nodeId = req.params.id;
    if (!(await enrolments.revoke(nodeId))) throw nodeNotFound();
    // A node enrolled again under this id starts undrained.
    await store.del(keys.nodeControl(nodeId));
    log.info('node revoked', { nodeId });
    const answer: RevokedNode = { nodeId, revoked: true };
    res.json(answer);
  });

  return router;
}
