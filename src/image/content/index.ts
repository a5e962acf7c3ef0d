export type {
  BlobSource,
  BrokenIngest,
  ContentDescriptor,
  ContentInfo,
  ContentReaderAt,
  ContentStore,
  ContentWriter,
  IngestStatus,
} from './content-store.js';
export type { LeaseResource, ResourceLease } from './lease.js';
export { LocalContentStore, type LocalContentStoreOptions } from './local-content-store.js';
