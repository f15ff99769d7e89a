import { z } from 'zod';

export const limitSchema = z.coerce.number().int().min(1).max(200).default(50);

export const seqCursorSchema = z
  .string()
  .regex(/^\d{1,19}$/, 'is not a cursor returned by this API')
  .transform((value) => BigInt(value))
  .optional();

export const idCursorSchema = z
  .string()
  .regex(/^[a-z]+_[0-9a-z]{26}$/, 'is not a cursor returned by this API')
  .optional();

export const timeSchema = z.iso
  .datetime({ offset: true, message: 'must be an ISO-8601 time' })
  .transform((value) => new Date(value))
  .optional();

export type Page<T> = { data: T[]; nextCursor: string | null };

/** A page of `limit` items; the cursor of the next page is taken from the last item. */
export function page<T, V>(items: T[], limit: number, view: (item: T) => V, cursorOf: (item: T) => string): Page<V> {
  return { data: items.map(view), nextCursor: items.length === limit ? cursorOf(items[items.length - 1]) : null };
}
