export { pull, PullFailures } from './pull.js';
export type { BlobKind, BlobSource, PulledImage, PullEvent, PullOptions, PullResult } from './pull.js';
export { parseReference, canonicalReference } from './reference/index.js';
export type { ImageReference } from './reference/index.js';
export { parsePlatform, formatPlatform, defaultPlatform } from './platform/index.js';
export type { Platform } from './platform/index.js';
export { FrozenError, ImagePullError } from './errors.js';
export type { ErrorKind } from './errors.js';
export type { Credentials } from './registry/credentials.js';
