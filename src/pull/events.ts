/**
 * From what the registry and transfer code report (retries, resumes, fallbacks, progress) to the pull's public
 * events; `inspect` and `lock` report their requests' the same way.
 */
import { asFrozenError } from '../errors.js';
import type { BlobKind, PullEvent, RequestEvent } from '../api/events.js';
import type { RequestNotices } from '../registry/remote.js';
import type { IngestOptions } from '../transfer/ingest.js';
import { throttled } from '../util/throttle.js';

/** A blob as events name it: its image, kind, digest (`v1:<id>` for v1 layers) and size. */
export interface ReportedBlob {
  readonly image: string;
  readonly kind: BlobKind;
  readonly digest: string;
  readonly size: number;
}

/**
 * Announces a download (`blob-start`) and gives the ingest options that report it: progress (throttled; `flush`
 * sends the last value), retries, resumes, waits on another process and endpoint fallbacks.
 */
export function downloadEvents(
  emit: (event: PullEvent) => void,
  blob: ReportedBlob,
  signal?: AbortSignal,
): { options: IngestOptions; flush(): void } {
  const { image, kind, digest, size } = blob;
  emit({ type: 'blob-start', image, kind, digest, size });
  const progress = throttled((bytes: number) => emit({ type: 'blob-progress', image, kind, digest, size, bytes }));
  return {
    options: {
      ...(signal && { signal }),
      onProgress: progress,
      onRetry: (error, attempt, delayMs) =>
        emit({ type: 'blob-retry', image, kind, digest, attempt, delayMs, reason: asFrozenError(error).message }),
      onResume: (offset) => emit({ type: 'blob-resume', image, kind, digest, size, offset }),
      onWait: () => emit({ type: 'blob-wait', image, kind, digest }),
      onFallback: (endpoint, error) =>
        emit({ type: 'blob-fallback', image, kind, digest, endpoint, reason: asFrozenError(error).message }),
    },
    flush: () => progress.flush(),
  };
}

/** Reports an image's other requests (manifests, a tag's HEAD, v1 API calls): their retries and endpoint fallbacks. */
export function requestEvents(emit: (event: RequestEvent) => void, image: string): RequestNotices {
  return {
    onRetry: (error, attempt, delayMs) =>
      emit({ type: 'request-retry', image, attempt, delayMs, reason: asFrozenError(error).message }),
    onFallback: (endpoint, error) =>
      emit({ type: 'request-fallback', image, endpoint, reason: asFrozenError(error).message }),
  };
}

/** Blobs downloaded in this run, counted per endpoint that served them. */
export function countEndpoints(fetched: readonly { readonly endpoint?: string | undefined }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { endpoint } of fetched) if (endpoint) counts[endpoint] = (counts[endpoint] ?? 0) + 1;
  return counts;
}
