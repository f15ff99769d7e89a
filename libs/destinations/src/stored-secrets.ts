import { fieldName, SecretBox, SecretPlace, SecretUnreadableError } from '@dispatch/domain';
import type { DestinationKind } from './kind';

/** What answers show in place of a credential, and what a PATCH sends back to keep one. */
export const MASKED = '********';

type ConfigObject = Record<string, unknown>;

/** Where a destination keeps its signing secrets, for the place a sealed one is bound to. */
export const SIGNING_SECRET_FIELD: readonly string[] = ['secret'];
export const PREVIOUS_SECRET_FIELD: readonly string[] = ['previousSecret'];

function isObject(value: unknown): value is ConfigObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function valueAt(config: unknown, path: readonly string[]): unknown {
  let value = config;
  for (const key of path) value = isObject(value) && Object.hasOwn(value, key) ? value[key] : undefined;
  return value;
}

/** A copy of `config` with `value` at `path` (every object on the way copied, nothing else). */
function withValueAt(config: ConfigObject, path: readonly string[], value: unknown): ConfigObject {
  const [key, ...rest] = path;
  return { ...config, [key]: rest.length === 0 ? value : withValueAt(isObject(config[key]) ? config[key] : {}, rest, value) };
}

/**
 * The paths of `config` that hold a credential, as its kind declares them (`secretPaths`, or
 * else `secretFields`): only those that hold text.
 */
export function secretPaths(kind: DestinationKind, config: unknown): string[][] {
  if (!isObject(config)) return [];
  const declared = kind.secretPaths ? kind.secretPaths(config) : kind.secretFields.map((field) => field.split('.'));
  return declared.filter((path) => typeof valueAt(config, path) === 'string');
}

/** `config` with every value at a secret path replaced by what `change` makes of it (told the path). */
function mapSecrets(kind: DestinationKind, config: unknown, change: (value: string, path: string[]) => string): unknown {
  let result = config;
  for (const path of secretPaths(kind, config)) result = withValueAt(result as ConfigObject, path, change(valueAt(config, path) as string, path));
  return result;
}

/**
 * A stored config as answers show it: every credential `"********"`. A kind this deployment
 * does not know has its encrypted values masked all the same.
 */
export function maskedConfig(kind: DestinationKind | undefined, config: unknown): unknown {
  const masked = kind ? mapSecrets(kind, config, () => MASKED) : config;
  return maskSealed(masked);
}

function maskSealed(value: unknown): unknown {
  if (SecretBox.isSealed(value)) return MASKED;
  if (Array.isArray(value)) return value.map(maskSealed);
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, maskSealed(inner)]));
  return value;
}

/** The stored value at `path` and the path it is stored at, a header name matched in any case (a PATCH may change its case). */
function storedAt(stored: unknown, path: readonly string[]): { value: unknown; path: string[] } {
  const found: string[] = [];
  let value = stored;
  for (const key of path) {
    const name = isObject(value) ? (Object.hasOwn(value, key) ? key : Object.keys(value).find((other) => other.toLowerCase() === key.toLowerCase())) : undefined;
    if (name === undefined || !isObject(value)) return { value: undefined, path: found };
    found.push(name);
    value = value[name];
  }
  return { value, path: found };
}

/**
 * A new config (as sent in a PATCH) where every credential sent as `"********"` takes the
 * value stored at the same path in `stored`, read with `read` (which opens a sealed one; it is
 * told the path the value is stored at). `missing` names the paths that asked to keep a value
 * where none is stored. `"********"` at a path that is not secret stays as it is.
 */
export function keepMaskedSecrets(
  kind: DestinationKind,
  config: ConfigObject,
  stored: unknown,
  read: (value: string, storedPath: string[]) => string,
): { config: ConfigObject; missing: string[] } {
  const missing: string[] = [];
  const kept = mapSecrets(kind, config, (value, path) => {
    if (value !== MASKED) return value;
    const previous = storedAt(stored, path);
    if (typeof previous.value === 'string') return read(previous.value, previous.path);
    missing.push(fieldName(path));
    return value;
  });
  return { config: kept as ConfigObject, missing };
}

function configPlace(destinationId: string, path: readonly string[]): SecretPlace {
  return { row: destinationId, field: ['config', ...path] };
}

/** The config to store: every credential sealed for its destination and path. */
export function sealConfig(kind: DestinationKind, config: ConfigObject, box: SecretBox, destinationId: string): ConfigObject {
  return mapSecrets(kind, config, (value, path) => box.seal(value, configPlace(destinationId, path))) as ConfigObject;
}

/**
 * A stored config with its credentials opened. Throws naming the destination, the field and the
 * key when one cannot be opened (never the value).
 */
export function openConfig(kind: DestinationKind, config: unknown, box: SecretBox, destinationId: string): unknown {
  return mapSecrets(kind, config, (value, path) => openSecret(box, value, configPlace(destinationId, path)));
}

/** Reads a value of a destination's stored config for `keepMaskedSecrets`: a sealed one opened, any other as it is (it was not secret). */
export function storedConfigReader(box: SecretBox, destinationId: string): (value: string, storedPath: string[]) => string {
  return (value, storedPath) => (SecretBox.isSealed(value) ? openSecret(box, value, configPlace(destinationId, storedPath)) : value);
}

/** A sealed value opened; a failure names the destination, the field and the key, never the value. */
export function openSecret(box: SecretBox, sealed: string, place: SecretPlace): string {
  try {
    return box.open(sealed, place);
  } catch (error) {
    if (!(error instanceof SecretUnreadableError)) throw error;
    throw new SecretUnreadableError(`destination ${place.row}: cannot read its ${fieldName(place.field)}: ${error.message}`);
  }
}

/** A destination's secrets as stored: the columns that may hold them. */
export type StoredSecrets = { id: string; kind: string; config: unknown; secret: string | null; previousSecret: string | null };

/** The fields of a stored destination (`secret`, `config.headers.authorization`…) that hold a secret in clear text. */
export function clearTextFields(stored: StoredSecrets, kind: DestinationKind | undefined): string[] {
  const configFields = kind ? secretPaths(kind, stored.config).filter((path) => !SecretBox.isSealed(valueAt(stored.config, path))) : [];
  const columns = [
    { field: SIGNING_SECRET_FIELD, value: stored.secret },
    { field: PREVIOUS_SECRET_FIELD, value: stored.previousSecret },
  ].filter((column) => column.value !== null && !SecretBox.isSealed(column.value));
  return [...columns.map((column) => fieldName(column.field)), ...configFields.map((path) => fieldName(['config', ...path]))];
}

/** What sealing a destination's stored secrets did. */
export type SealingResult = {
  /** The destination with every secret sealed, or null when nothing changed. */
  sealed: StoredSecrets | null;
  /** Values that were in clear text. */
  encrypted: number;
  /** Values that were sealed with another key and are now sealed with the current one. */
  reencrypted: number;
};

/**
 * Seals every secret of a stored destination that is still in clear text (the migration of
 * rows written before secrets were encrypted) and, with `rotate`, seals again with the current
 * key every one sealed with another. `findKind` gives the kind that knows which config paths are
 * secret; without one only the signing secrets are handled.
 */
export function sealStoredSecrets(stored: StoredSecrets, kind: DestinationKind | undefined, box: SecretBox, options: { rotate: boolean }): SealingResult {
  let encrypted = 0;
  let reencrypted = 0;
  const seal = (value: string, place: SecretPlace): string => {
    if (!SecretBox.isSealed(value)) {
      encrypted += 1;
      return box.seal(value, place);
    }
    if (!options.rotate || box.isCurrent(value)) return value;
    reencrypted += 1;
    return box.seal(openSecret(box, value, place), place);
  };
  const sealed: StoredSecrets = {
    ...stored,
    config: kind ? mapSecrets(kind, stored.config, (value, path) => seal(value, configPlace(stored.id, path))) : stored.config,
    secret: stored.secret === null ? null : seal(stored.secret, { row: stored.id, field: SIGNING_SECRET_FIELD }),
    previousSecret: stored.previousSecret === null ? null : seal(stored.previousSecret, { row: stored.id, field: PREVIOUS_SECRET_FIELD }),
  };
  return { sealed: encrypted + reencrypted > 0 ? sealed : null, encrypted, reencrypted };
}
