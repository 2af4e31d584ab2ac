/** The public API of frozen-images: the functions and types a pipeline imports. Nothing else is exported. */
export { pull } from './pull/pull.js';
export type {
  BlobDoneEvent,
  BlobFallbackEvent,
  BlobKind,
  BlobProgressEvent,
  BlobResumeEvent,
  BlobRetryEvent,
  BlobSource,
  BlobStartEvent,
  BlobWaitEvent,
  CacheInOutputEvent,
  CacheUnusableEvent,
  ConvertedEvent,
  ErrorEvent,
  ImageDoneEvent,
  PlatformFallbackEvent,
  PlatformMismatchEvent,
  PullEvent,
  RequestEvent,
  RequestFallbackEvent,
  RequestRetryEvent,
  ResolvedEvent,
  TagMovedEvent,
} from './api/events.js';
export type { Protocol, PullCommonOptions, PullImagesOptions, PullLockOptions, PullOptions } from './api/options.js';
export type { PulledImage, PullResult, PullTotals } from './api/results.js';
export { parseReference, canonicalReference } from './reference/index.js';
export type { ImageReference } from './reference/index.js';
export type { Digest, DigestAlgorithm } from './digest.js';
export { parsePlatform, formatPlatform, defaultPlatform } from './platform/index.js';
export type { Platform } from './platform/index.js';
export { lock } from './lock.js';
export type { LockEvent, LockOptions } from './lock.js';
export { readLockFile, writeLockFile } from './lockfile/index.js';
export type { LockedBlob, LockedImage, LockFile } from './lockfile/index.js';
export { inspect } from './inspect.js';
export type { InspectOptions, InspectResult } from './inspect.js';
export type { DispatcherLike, RegistryOptions } from './registry/session.js';
export { verifyArchive } from './verify.js';
export type { VerifyProblem, VerifyResult } from './verify.js';
export { FrozenError, ImagePullError, PullFailures, isRetryable } from './errors.js';
export type { ErrorKind } from './errors.js';
export type { Credentials } from './registry/credentials.js';
