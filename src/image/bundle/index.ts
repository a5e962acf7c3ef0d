export { createBundle, removeBundle, type CreateBundleOptions, type ImageBundle } from './bundle.js';
export {
  BUNDLE_SPEC_VERSION,
  DEFAULT_PATH_ENV,
  DOCKER_DEFAULT_CAPABILITIES,
  DOCKER_MASKED_PATHS,
  DOCKER_READONLY_PATHS,
  dockerDefaultSpec,
  thermalThrottlePaths,
  type DockerDefaultSpecOptions,
} from './default-spec.js';
export { cleanContainerPath, mkdirAllInRoot, readFileInRoot, type ReadInRootOptions } from './in-root.js';
export {
  ANNOTATIONS,
  capabilities,
  DEFAULT_NOFILE,
  imageSpec,
  processArgs,
  processEnv,
  replaceOrAppendEnv,
  userSpec,
  workingDir,
  type ImageSpecOptions,
  type ImageSpecOverrides,
  type SpecUser,
} from './image-spec.js';
export { execUser, MAX_ID, parseGroup, parsePasswd, resolveImageUser, type ExecUser, type GroupEntry, type PasswdEntry, type ResolveUserOptions } from './image-user.js';
export { MAX_MOUNT_DATA_BYTES, mountAll, mountCommand, mountPointsUnder, unmountAll, type MountCommand } from './mount-rootfs.js';
export {
  defaultSeccomp,
  DOCKER_DEFAULT_PROFILE,
  seccompFromProfile,
  type ProfileFilter,
  type ProfileRule,
  type SeccompProfile,
  type SeccompSetupOptions,
} from './seccomp-default.js';
