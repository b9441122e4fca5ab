// The fleet registry: what nodes publish and how it is read.
export {
  NodeRecordSchema,
  readNodeRecords,
  removeNodeRecord,
  writeNodeRecord,
} from './node-record.js';
export type { NodeRecord, ReadNodeRecordsOptions, RegistryKeys, RegistryStore } from './node-record.js';
