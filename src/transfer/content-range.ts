/**
 * A response's `Content-Range` (RFC 9110 §14.4), as both downloads judge it: the one-stream download's resume
 * and the ranges of a segmented one.
 */
import { header, type HttpResponse } from '../registry/transport.js';

/** The bytes a `206` says it carries, and the whole size (undefined for `*`). */
export interface ContentRange {
  readonly start: number;
  readonly end: number;
  readonly total: number | undefined;
}

/** The response's `Content-Range: bytes start-end/total`, when it has a well-formed one. */
export function contentRange(response: HttpResponse): ContentRange | undefined {
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(response.headers, 'content-range')?.trim() ?? '');
  if (!match) return undefined;
  return { start: Number(match[1]), end: Number(match[2]), total: match[3] === '*' ? undefined : Number(match[3]) };
}

/** The status and any Content-Range, for error messages: `206 (Content-Range: bytes 0-9/100)`. */
export function describeRange(response: HttpResponse): string {
  const range = header(response.headers, 'content-range');
  return `${response.statusCode}${range ? ` (Content-Range: ${range})` : ''}`;
}
