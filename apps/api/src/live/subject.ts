import { z } from 'zod';
import { LIVE_SUBJECT } from '@dispatch/destinations';

/**
 * A subject of live WebSocket push: 1 to 200 characters, each a letter, a digit or one of
 * `_ - . : @ + = |` (no spaces, no braces). A subject belongs to an organization: the same
 * subject in two organizations are two subjects. The same rule as the `websocket` kind's.
 */
export const SUBJECT_PATTERN: RegExp = LIVE_SUBJECT;

/** What `SUBJECT_PATTERN` asks for, as a 400 says it. */
export const SUBJECT_RULE = 'must be 1 to 200 characters, each a letter, a digit or one of _ - . : @ + = | (no spaces, no braces)';

/** A subject in a request (body, query or path). */
export const subjectSchema = z.string().regex(SUBJECT_PATTERN, SUBJECT_RULE);
