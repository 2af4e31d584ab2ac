export { pull } from './pull.js';
export type {
  BlobKind,
  BlobSource,
  Protocol,
  PulledImage,
  PullEvent,
  PullOptions,
  PullResult,
  RequestEvent,
} from './pull.js';
export { parseReference, canonicalReference } from './reference/index.js';
export type { ImageReference } from './reference/index.js';
export { parsePlatform, formatPlatform, defaultPlatform } from './platform/index.js';
export type { Platform } from './platform/index.js';
export { lock, readLockFile, writeLockFile } from './lock.js';
export type { LockedBlob, LockedImage, LockFile, LockOptions } from './lock.js';
export { inspect } from './inspect.js';
export type { InspectOptions, InspectResult } from './inspect.js';
export type { RegistryOptions } from './registry/session.js';
export { verifyArchive } from './verify.js';
export type { VerifyProblem, VerifyResult } from './verify.js';
export { FrozenError, ImagePullError, PullFailures } from './errors.js';
export type { ErrorKind } from './errors.js';
export type { Credentials } from './registry/credentials.js';
