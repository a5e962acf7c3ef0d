export { Authorizer, parseChallenges, repositoryScope, type Challenge } from './auth.js';
export { loadCertsDir } from './certs-dir.js';
export { credentialsFromDockerConfig, loadDockerConfig, normalizeAuthKey, type CredentialLookup, type Credentials } from './credentials.js';
export { HttpTransport, type TlsOptions } from './http-transport.js';
export { pullImage, type PullOptions, type PullPhase, type PullProgress, type PullResult } from './pull-image.js';
export { pushImage, type PushOptions, type PushProgress } from './push-image.js';
export {
  MAX_MANIFEST_BYTES,
  RegistryClient,
  type BlobPushResult,
  type BlobUploadOptions,
  type FetchedManifest,
  type RegistryClientOptions,
  type ResolvedManifest,
} from './registry-client.js';
export { withRetry, type RetryOptions } from './retry.js';
export { pullAndUnpack, type PullUnpackOptions, type PullUnpackResult, type UnpackedLayer } from './pull-and-unpack.js';
