// Turns a destination kind's config JSON Schema (draft 2020-12, as the API serves it from
// GET /v1/destination-kinds) into the fields of a form, and the form's values back into a config.
// Pure: no React, no DOM, so it is unit-tested on its own.

/** The part of JSON Schema the form understands; anything else is edited as JSON. */
export interface JsonSchema {
  type?: string | string[];
  format?: string;
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  title?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  [keyword: string]: unknown;
}

interface BaseField {
  /** The property's name in the config; a dotted path inside a nested object (`auth.password`). */
  name: string;
  /** The schema's `title`, else the name humanised: `maxDelayMs` → "Max delay ms", `url` → "URL", `auth.password` → "Auth password". */
  label: string;
  /** The schema's first example (`examples`), shown as the input's placeholder. */
  example?: string;
  /** A value must be given (listed in `required`, without a default). */
  required: boolean;
  description?: string;
  /** For a property of a nested object: the objects it is in, outermost first, and whether each must be given. */
  groups?: { name: string; required: boolean }[];
}

export type ConfigField =
  | (BaseField & { type: 'text'; format?: string; default?: string; maxLength?: number })
  | (BaseField & { type: 'secret' })
  | (BaseField & { type: 'enum'; options: string[]; default?: string })
  | (BaseField & { type: 'boolean'; default: boolean })
  | (BaseField & { type: 'number'; integer: boolean; min?: number; max?: number; default?: number })
  | (BaseField & { type: 'map'; default: Record<string, string> })
  | (BaseField & { type: 'list'; default: string[] })
  | (BaseField & { type: 'json'; default?: unknown });

export interface MapRow {
  key: string;
  value: string;
}

/** What a form holds for one field: text for text, secret, enum, number, list (comma separated) and JSON fields. */
export type FieldValue = string | boolean | MapRow[];

export type ConfigValues = Record<string, FieldValue>;

/** Words kept in capitals when a property name is humanised. */
const ACRONYMS = new Set(['url', 'uri', 'id', 'http', 'https', 'api', 'tls', 'ssl', 'sftp', 'mqtt', 'nats', 'ip', 'dns', 'json', 'ttl']);

/** `url` → "URL", `maxDelayMs` → "Max delay ms", `api_key` → "API key", `routing-key` → "Routing key". */
export function humanize(name: string): string {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[\s_\-.]+/)
    .filter((word) => word !== '')
    .map((word) => (ACRONYMS.has(word.toLowerCase()) ? word.toUpperCase() : word.toLowerCase()));
  if (words.length === 0) return name;
  const [first, ...rest] = words;
  return [first.charAt(0).toUpperCase() + first.slice(1), ...rest].join(' ');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function typesOf(schema: JsonSchema): string[] {
  if (Array.isArray(schema.type)) return schema.type;
  return typeof schema.type === 'string' ? [schema.type] : [];
}

/** Follows a local `$ref` (`#/$defs/name`) into `root`. */
function resolve(schema: JsonSchema, root: JsonSchema): JsonSchema {
  let current = schema;
  for (let depth = 0; depth < 10 && typeof current.$ref === 'string'; depth++) {
    const match = /^#\/(\$defs|definitions)\/(.+)$/.exec(current.$ref);
    const defs = match ? (root[match[1]] as Record<string, JsonSchema> | undefined) : undefined;
    const target = match && defs ? defs[decodeURIComponent(match[2])] : undefined;
    if (!target) break;
    const { $ref: _ref, ...rest } = current;
    current = { ...target, ...rest };
  }
  return current;
}

/**
 * Unwraps a nullable (`anyOf: [X, { type: 'null' }]`, `type: [X, 'null']`) to X, and a union of
 * constants (`anyOf: [{ const: 'a' }, { const: 'b' }]`) to an enum.
 */
function simplify(schema: JsonSchema, root: JsonSchema): JsonSchema {
  const resolved = resolve(schema, root);
  const union = resolved.anyOf ?? resolved.oneOf;
  if (union) {
    const branches = union.map((branch) => resolve(branch, root)).filter((branch) => !typesOf(branch).includes('null') || typesOf(branch).length > 1);
    const { anyOf: _anyOf, oneOf: _oneOf, ...outer } = resolved;
    if (branches.length === 1) return simplify({ ...branches[0], ...outer }, root);
    if (branches.length > 1 && branches.every((branch) => 'const' in branch)) {
      return { ...outer, enum: branches.map((branch) => branch.const) };
    }
    return resolved;
  }
  const types = typesOf(resolved);
  if (types.length > 1) {
    const nonNull = types.filter((type) => type !== 'null');
    if (nonNull.length === 1) return { ...resolved, type: nonNull[0] };
  }
  return resolved;
}

function isStringMap(schema: JsonSchema, root: JsonSchema): boolean {
  if (!typesOf(schema).includes('object') || (schema.properties && Object.keys(schema.properties).length > 0)) return false;
  const values = schema.additionalProperties;
  if (!isRecord(values)) return false;
  const valueSchema = simplify(values as JsonSchema, root);
  return typesOf(valueSchema).includes('string') && !valueSchema.enum;
}

/** An array of plain strings (not of choices): edited as one comma-separated text. */
function isStringList(schema: JsonSchema, root: JsonSchema): boolean {
  if (!typesOf(schema).includes('array') || !isRecord(schema.items)) return false;
  const items = simplify(schema.items, root);
  return typesOf(items).includes('string') && !items.enum;
}

function fieldFor(name: string, raw: JsonSchema, required: boolean, secret: boolean, root: JsonSchema): ConfigField {
  const schema = simplify(raw, root);
  const hasDefault = 'default' in schema;
  const example = Array.isArray(schema.examples) ? schema.examples[0] : undefined;
  const base: BaseField = {
    name,
    label: typeof schema.title === 'string' ? schema.title : humanize(name),
    required: required && !hasDefault,
    ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
    ...(typeof example === 'string' || typeof example === 'number' ? { example: String(example) } : {}),
  };
  const types = typesOf(schema);

  if (secret) return { ...base, type: 'secret' };

  const options = Array.isArray(schema.enum) ? schema.enum : 'const' in schema ? [schema.const] : undefined;
  if (options && options.every((option) => typeof option === 'string')) {
    return {
      ...base,
      type: 'enum',
      options: options as string[],
      ...(typeof schema.default === 'string' ? { default: schema.default } : {}),
    };
  }
  if (types.includes('boolean')) {
    return { ...base, type: 'boolean', default: schema.default === true };
  }
  if (types.includes('integer') || types.includes('number')) {
    const min = schema.minimum ?? schema.exclusiveMinimum;
    const max = schema.maximum ?? schema.exclusiveMaximum;
    return {
      ...base,
      type: 'number',
      integer: types.includes('integer') && !types.includes('number'),
      ...(typeof min === 'number' ? { min } : {}),
      ...(typeof max === 'number' ? { max } : {}),
      ...(typeof schema.default === 'number' ? { default: schema.default } : {}),
    };
  }
  if (types.includes('string')) {
    return {
      ...base,
      type: 'text',
      ...(typeof schema.format === 'string' ? { format: schema.format } : {}),
      ...(typeof schema.default === 'string' ? { default: schema.default } : {}),
      ...(typeof schema.maxLength === 'number' ? { maxLength: schema.maxLength } : {}),
    };
  }
  if (isStringList(schema, root)) {
    const defaults = Array.isArray(schema.default) ? schema.default.filter((item): item is string => typeof item === 'string') : [];
    return { ...base, type: 'list', default: defaults };
  }
  if (isStringMap(schema, root)) {
    const fallback = isRecord(schema.default) ? schema.default : {};
    const defaults = Object.fromEntries(Object.entries(fallback).filter(([, value]) => typeof value === 'string')) as Record<string, string>;
    return { ...base, type: 'map', default: defaults };
  }
  return { ...base, type: 'json', ...(hasDefault ? { default: schema.default } : {}) };
}

function hasProperties(schema: JsonSchema): boolean {
  return isRecord(schema.properties) && Object.keys(schema.properties).length > 0;
}

/**
 * The property that tells the branches of a config schema apart (`transport`, `provider`): a
 * schema that is one of several objects, each giving that property a constant of its own.
 * Null for a schema of one object.
 */
export function variantKeyOf(schema: JsonSchema): string | null {
  const branches = branchesOf(schema);
  if (!branches) return null;
  const [first, ...rest] = branches;
  const candidates = Object.keys(first.properties ?? {}).filter((key) => constantOf(first, key, schema) !== undefined);
  return candidates.find((key) => rest.every((branch) => constantOf(branch, key, schema) !== undefined)) ?? null;
}

/** The values of the variant property, one per branch, in the schema's order. */
export function variantsOf(schema: JsonSchema): string[] {
  const key = variantKeyOf(schema);
  return key ? (branchesOf(schema) ?? []).map((branch) => constantOf(branch, key, schema) as string) : [];
}

function branchesOf(schema: JsonSchema): JsonSchema[] | null {
  const root = resolve(schema, schema);
  const union = root.oneOf ?? root.anyOf;
  if (!union || union.length < 2) return null;
  const branches = union.map((branch) => resolve(branch, schema));
  return branches.every(hasProperties) ? branches : null;
}

function constantOf(branch: JsonSchema, key: string, root: JsonSchema): string | undefined {
  const property = isRecord(branch.properties?.[key]) ? resolve(branch.properties[key], root) : undefined;
  if (typeof property?.const === 'string') return property.const;
  return Array.isArray(property?.enum) && property.enum.length === 1 && typeof property.enum[0] === 'string' ? property.enum[0] : undefined;
}

/**
 * One field per property of a kind's config schema, in the schema's order; the properties of a
 * nested object are fields of their own, named by dotted path. A property is a secret when its
 * name (or dotted path) is in `secretFields` (the API's list) or is `secret`.
 *
 * A schema of several objects told apart by one property (see `variantKeyOf`) gives that
 * property first, as a choice of the variants, then the fields of the variant `variant` (the
 * first one when not given or unknown).
 */
export function fieldsFromSchema(schema: JsonSchema, secretFields: readonly string[] = [], variant?: string): ConfigField[] {
  const secrets = new Set([...secretFields, 'secret']);
  const fields: ConfigField[] = [];
  const walk = (object: JsonSchema, prefix: string[], groups: { name: string; required: boolean }[], skip?: string) => {
    const properties = isRecord(object.properties) ? object.properties : {};
    const required = new Set(Array.isArray(object.required) ? object.required : []);
    for (const [key, raw] of Object.entries(properties)) {
      if (key === skip) continue;
      const property = simplify(isRecord(raw) ? raw : {}, schema);
      const path = [...prefix, key];
      const name = path.join('.');
      if (!secrets.has(name) && hasProperties(property) && prefix.length < 5) {
        walk(property, path, [...groups, { name, required: required.has(key) && !('default' in property) }]);
        continue;
      }
      const field = fieldFor(name, property, required.has(key), secrets.has(name), schema);
      fields.push(groups.length > 0 ? { ...field, groups } : field);
    }
  };
  const key = variantKeyOf(schema);
  if (key) {
    const options = variantsOf(schema);
    const chosen = variant !== undefined && options.includes(variant) ? variant : options[0];
    const branch = (branchesOf(schema) ?? [])[options.indexOf(chosen)];
    const described = resolve((branch.properties ?? {})[key], schema);
    fields.push({
      name: key,
      label: typeof described.title === 'string' ? described.title : humanize(key),
      required: true,
      type: 'enum',
      options,
      default: options[0],
      ...(typeof described.description === 'string' ? { description: described.description } : {}),
    });
    walk(branch, [], [], key);
    return fields;
  }
  walk(simplify(schema, schema), [], []);
  return fields;
}

function readPath(config: Record<string, unknown> | undefined, name: string): unknown {
  let value: unknown = config;
  for (const key of name.split('.')) value = isRecord(value) ? value[key] : undefined;
  return value;
}

/** The object at dotted path `name` in `config`, made (empty) where missing. */
function objectAt(config: Record<string, unknown>, name: string): Record<string, unknown> {
  let object = config;
  for (const key of name.split('.')) {
    if (!isRecord(object[key])) object[key] = {};
    object = object[key] as Record<string, unknown>;
  }
  return object;
}

function mapRows(map: unknown): MapRow[] {
  if (!isRecord(map)) return [];
  return Object.entries(map).map(([key, value]) => ({ key, value: typeof value === 'string' ? value : JSON.stringify(value) }));
}

/** What the API shows in place of a stored credential, and takes back as "keep it". */
export const MASKED = '********';

/**
 * The form's first values: a destination's stored config when editing (a stored credential as
 * the API shows it, `"********"`; the signing secret, never shown, blank), else the schema's
 * defaults.
 */
export function initialValues(fields: readonly ConfigField[], config?: Record<string, unknown>): ConfigValues {
  const values: ConfigValues = {};
  for (const field of fields) {
    const stored = readPath(config, field.name);
    const value = stored === undefined || stored === null ? ('default' in field ? field.default : undefined) : stored;
    switch (field.type) {
      case 'secret':
        // The API shows a stored credential as "********"; sent back unchanged, it keeps the value.
        values[field.name] = stored === MASKED ? MASKED : '';
        break;
      case 'boolean':
        values[field.name] = value === true;
        break;
      case 'map':
        values[field.name] = mapRows(value);
        break;
      case 'list':
        values[field.name] = Array.isArray(value) ? value.join(', ') : '';
        break;
      case 'json':
        values[field.name] = value === undefined ? '' : JSON.stringify(value);
        break;
      case 'number':
        values[field.name] = typeof value === 'number' ? String(value) : '';
        break;
      default:
        values[field.name] = typeof value === 'string' ? value : '';
    }
  }
  return values;
}

/**
 * The form's values once variant `variant` is chosen (see `variantKeyOf`): the fields of that
 * variant, keeping what was typed in a field of the same name, the others at their defaults.
 */
export function valuesForVariant(schema: JsonSchema, secretFields: readonly string[], current: ConfigValues, variant: string): ConfigValues {
  const key = variantKeyOf(schema);
  const fields = fieldsFromSchema(schema, secretFields, variant);
  const values = initialValues(fields);
  for (const field of fields) if (field.name !== key && field.name in current) values[field.name] = current[field.name];
  if (key) values[key] = variant;
  return values;
}

/** A problem found before anything is sent, in the API's shape (`path` from the body's root). */
export interface FieldProblem {
  path: string;
  message: string;
}

/**
 * The config to send. Blank optional fields and blank secrets are left out (the API then
 * keeps a destination's stored signing secret, or makes one for a new webhook); everything
 * else is sent as typed, for the API to validate and name what is wrong.
 */
export function configFromValues(fields: readonly ConfigField[], values: ConfigValues): { config: Record<string, unknown>; problems: FieldProblem[] } {
  const config: Record<string, unknown> = {};
  const problems: FieldProblem[] = [];
  for (const field of fields) {
    // A nested object that must be given is sent even when all of its fields are left blank.
    for (const group of field.groups ?? []) {
      if (!group.required) break;
      objectAt(config, group.name);
    }
    const value = valueToSend(field, values[field.name], problems);
    if (value === LEAVE_OUT) continue;
    const path = field.name.split('.');
    const key = path.pop() as string;
    (path.length > 0 ? objectAt(config, path.join('.')) : config)[key] = value;
  }
  return { config, problems };
}

const LEAVE_OUT = Symbol('leave out');

function valueToSend(field: ConfigField, value: FieldValue | undefined, problems: FieldProblem[]): unknown {
  const path = `config.${field.name}`;
  const text = typeof value === 'string' ? value : '';
  switch (field.type) {
    case 'boolean':
      return value === true;
    case 'map': {
      const map: Record<string, string> = {};
      for (const row of Array.isArray(value) ? value : []) {
        const key = row.key.trim();
        if (key === '' && row.value === '') continue;
        if (key === '') {
          problems.push({ path, message: `a value ("${row.value}") has no key` });
          continue;
        }
        if (key in map) problems.push({ path: `${path}.${key}`, message: 'is given twice' });
        map[key] = row.value;
      }
      return map;
    }
    case 'number': {
      if (text.trim() === '') {
        if (field.required) problems.push({ path, message: 'is required' });
        return LEAVE_OUT;
      }
      const number = Number(text.trim());
      if (Number.isFinite(number)) return number;
      problems.push({ path, message: 'must be a number' });
      return LEAVE_OUT;
    }
    case 'list': {
      const items = text
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '');
      return items.length > 0 || field.required ? items : LEAVE_OUT;
    }
    case 'json': {
      if (text.trim() === '') return LEAVE_OUT;
      try {
        return JSON.parse(text) as unknown;
      } catch {
        problems.push({ path, message: 'must be JSON' });
        return LEAVE_OUT;
      }
    }
    case 'secret':
    case 'enum':
      return text === '' ? LEAVE_OUT : text;
    default:
      return text.trim() !== '' || field.required ? text.trim() : LEAVE_OUT;
  }
}
