/**
 * PostgreSQL access for Dispatch: the Prisma client, the repositories and the migration runner.
 *
 * Three ways to reach the database, chosen by what a statement needs and how often it runs:
 * - Prisma's fluent API (`prisma.delivery.findMany(…)`) for simple CRUD and reads with
 *   relations: typed rows, and nothing to keep in step with the schema by hand.
 * - `$queryRaw` (a tagged template; values become parameters) for statements that need SQL the
 *   fluent API lacks — `UPDATE … FROM` a selection locked `FOR UPDATE` (and the count of the
 *   same selection), `DISTINCT` done by the database rather than in memory — and that run at
 *   an operator's pace or on a timer.
 * - Named statements, `database.sql(text, values, name)`, for the hot paths run for every event
 *   or attempt (ingest, routing, claim and settle, ordering). They go straight to the pg pool
 *   Prisma shares, without Prisma's per-query work, which costs more than such a query; and the
 *   name makes node-postgres prepare the statement once per connection, where Prisma sends its
 *   statements (`$queryRaw` too) unnamed, parsed again at every call. PostgreSQL still plans
 *   each execution (`plan_cache_mode` in `createDatabase`), except the claim and settle statement,
 *   which finds every row by a key and runs with `database.sqlByKey`, planned once. A name must always go with the same
 *   text, so a named statement takes a group of any size as array or JSON parameters, never as
 *   SQL built per call. Its values go as pg takes them (dates as ISO strings) and its rows come
 *   back as PostgreSQL names them (snake_case), mapped by hand.
 */
export * from './prisma';
export * from './migrations';
export * from './secrets-at-rest';
export * from './organizations';
export * from './destinations';
export * from './events';
export * from './deliveries';
export * from './attempts';
export * from './operator-actions';
export * from './event-stories';
export * from './dead-letters';
export * from './delivery-scans';
export * from './database.module';
export * from './unavailable';
export * from './delivery-selection';
export * from './audit';
export * from './replays';
export * from './alerts';
export * from './retention';
export * from './destination-health';
export * from './batcher';
export * from './delivery-metrics';
export * from './ingest-rejections';
export * from './files';
export * from './download-links';
