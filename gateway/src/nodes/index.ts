// Enrolled nodes: their identities (token digests) and the checks every node-facing route makes.
export {
  createEnrolmentRepository,
  NODE_ID_RE,
  NodeEnrolmentSchema,
  type EnrolmentRepository,
  type EnrolmentStore,
  type NodeEnrolment,
} from './enrolment.js';
export { authenticateNode, type NodeAuthResult } from './node-auth.js';
