import { describe, expect, it } from '@jest/globals';
import { configFromValues, fieldsFromSchema, humanize, initialValues, valuesForVariant, variantKeyOf, type JsonSchema } from './configSchema';

/** The webhook config schema as zod 4's z.toJSONSchema emits it (what GET /v1/destination-kinds serves). */
const webhookSchema: JsonSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  properties: {
    url: { type: 'string', format: 'uri' },
    method: { default: 'POST', type: 'string', enum: ['POST', 'PUT', 'PATCH'] },
    headers: {
      default: {},
      type: 'object',
      propertyNames: { type: 'string' },
      additionalProperties: { type: 'string', maxLength: 4096 },
    },
    secret: { type: 'string' },
  },
  required: ['url', 'method', 'headers'],
  additionalProperties: false,
};

describe('humanize', () => {
  it.each([
    ['url', 'URL'],
    ['method', 'Method'],
    ['headers', 'Headers'],
    ['maxDelayMs', 'Max delay ms'],
    ['api_key', 'API key'],
    ['routing-key', 'Routing key'],
    ['baseURL', 'Base URL'],
    ['useTLS', 'Use TLS'],
  ])('%s → %s', (name, label) => {
    expect(humanize(name)).toBe(label);
  });
});

describe('fieldsFromSchema', () => {
  it('maps the webhook schema to a URL text input, a method select, a headers editor and a secret', () => {
    expect(fieldsFromSchema(webhookSchema, ['secret'])).toEqual([
      { name: 'url', label: 'URL', required: true, type: 'text', format: 'uri' },
      { name: 'method', label: 'Method', required: false, type: 'enum', options: ['POST', 'PUT', 'PATCH'], default: 'POST' },
      { name: 'headers', label: 'Headers', required: false, type: 'map', default: {} },
      { name: 'secret', label: 'Secret', required: false, type: 'secret' },
    ]);
  });

  it('makes a property a secret when the API lists it, and `secret` always', () => {
    const schema: JsonSchema = {
      type: 'object',
      properties: { password: { type: 'string' }, secret: { type: 'string' }, user: { type: 'string' } },
    };
    expect(fieldsFromSchema(schema, ['password']).map((field) => [field.name, field.type])).toEqual([
      ['password', 'secret'],
      ['secret', 'secret'],
      ['user', 'text'],
    ]);
  });

  it('maps booleans to checkboxes, numbers and integers with their bounds, constants and nullable fields', () => {
    const schema: JsonSchema = {
      type: 'object',
      properties: {
        tls: { type: 'boolean', default: true },
        port: { type: 'integer', minimum: 1, maximum: 65535, default: 22 },
        ratio: { type: 'number', exclusiveMinimum: 0 },
        mode: { anyOf: [{ const: 'a' }, { const: 'b' }] },
        folder: { anyOf: [{ type: 'string' }, { type: 'null' }] },
        qos: { type: ['integer', 'null'] },
        protocol: { const: 'mqtt' },
      },
      required: ['port', 'ratio'],
    };
    expect(fieldsFromSchema(schema)).toEqual([
      { name: 'tls', label: 'TLS', required: false, type: 'boolean', default: true },
      { name: 'port', label: 'Port', required: false, type: 'number', integer: true, min: 1, max: 65535, default: 22 },
      { name: 'ratio', label: 'Ratio', required: true, type: 'number', integer: false, min: 0 },
      { name: 'mode', label: 'Mode', required: false, type: 'enum', options: ['a', 'b'] },
      { name: 'folder', label: 'Folder', required: false, type: 'text' },
      { name: 'qos', label: 'Qos', required: false, type: 'number', integer: true },
      { name: 'protocol', label: 'Protocol', required: false, type: 'enum', options: ['mqtt'] },
    ]);
  });

  it('follows local $refs, edits lists of text as one comma-separated text, and what it cannot map (objects of other values) as JSON', () => {
    const schema: JsonSchema = {
      type: 'object',
      properties: {
        region: { $ref: '#/$defs/region' },
        topics: { type: 'array', items: { type: 'string' }, default: ['a'] },
        limits: { type: 'object', additionalProperties: { type: 'number' } },
      },
      $defs: { region: { type: 'string', enum: ['eu', 'us'], default: 'eu' } },
    };
    expect(fieldsFromSchema(schema)).toEqual([
      { name: 'region', label: 'Region', required: false, type: 'enum', options: ['eu', 'us'], default: 'eu' },
      { name: 'topics', label: 'Topics', required: false, type: 'list', default: ['a'] },
      { name: 'limits', label: 'Limits', required: false, type: 'json' },
    ]);
  });

  it('gives the properties of a nested object fields of their own, named by dotted path, secrets included', () => {
    const schema: JsonSchema = {
      type: 'object',
      properties: {
        host: { type: 'string' },
        auth: { type: 'object', properties: { user: { type: 'string' }, password: { type: 'string' } }, required: ['user', 'password'] },
        tls: { type: 'object', properties: { ca: { type: 'string' } } },
      },
      required: ['host', 'auth'],
    };
    const fields = fieldsFromSchema(schema, ['auth.password']);
    expect(fields).toEqual([
      { name: 'host', label: 'Host', required: true, type: 'text' },
      { name: 'auth.user', label: 'Auth user', required: true, type: 'text', groups: [{ name: 'auth', required: true }] },
      { name: 'auth.password', label: 'Auth password', required: true, type: 'secret', groups: [{ name: 'auth', required: true }] },
      { name: 'tls.ca', label: 'TLS ca', required: false, type: 'text', groups: [{ name: 'tls', required: false }] },
    ]);

    const stored = { host: 'mq.example.com', auth: { user: 'dispatch' } };
    const values = initialValues(fields, stored);
    expect(values).toEqual({ host: 'mq.example.com', 'auth.user': 'dispatch', 'auth.password': '', 'tls.ca': '' });
    // An optional object with nothing in it is left out; a required one is sent for the API to judge.
    expect(configFromValues(fields, values).config).toEqual(stored);
    expect(configFromValues(fields, { ...values, 'auth.user': '', 'auth.password': 's3cret', 'tls.ca': 'PEM' }).config).toEqual({
      host: 'mq.example.com',
      auth: { user: '', password: 's3cret' },
      tls: { ca: 'PEM' },
    });
  });

  it('gives no fields for a schema without properties', () => {
    expect(fieldsFromSchema({ type: 'object' })).toEqual([]);
    expect(fieldsFromSchema({})).toEqual([]);
  });
});

/** A config of several variants, as zod 4 emits a discriminated union (an email's transports). */
const emailSchema: JsonSchema = {
  oneOf: [
    {
      type: 'object',
      properties: {
        transport: { type: 'string', const: 'smtp', title: 'Transport', description: 'How the mail is sent' },
        host: { type: 'string', examples: ['smtp.example.com'] },
        port: { type: 'integer', default: 587 },
        password: { type: 'string' },
        subject: { type: 'string', default: '{event.type}' },
      },
      required: ['transport', 'host', 'port', 'subject'],
    },
    {
      type: 'object',
      properties: { transport: { type: 'string', const: 'sendgrid' }, apiKey: { type: 'string' }, subject: { type: 'string', default: '{event.type}' } },
      required: ['transport', 'apiKey', 'subject'],
    },
  ],
};

describe('a config of several variants', () => {
  it('gives the variant property first, as a choice, then the fields of the chosen variant (the first by default)', () => {
    expect(variantKeyOf(emailSchema)).toBe('transport');
    expect(variantKeyOf(webhookSchema)).toBeNull();
    expect(fieldsFromSchema(emailSchema, ['password', 'apiKey'])).toEqual([
      { name: 'transport', label: 'Transport', required: true, type: 'enum', options: ['smtp', 'sendgrid'], default: 'smtp', description: 'How the mail is sent' },
      { name: 'host', label: 'Host', required: true, type: 'text', example: 'smtp.example.com' },
      { name: 'port', label: 'Port', required: false, type: 'number', integer: true, default: 587 },
      { name: 'password', label: 'Password', required: false, type: 'secret' },
      { name: 'subject', label: 'Subject', required: false, type: 'text', default: '{event.type}' },
    ]);
    expect(fieldsFromSchema(emailSchema, ['password', 'apiKey'], 'sendgrid').map((field) => field.name)).toEqual(['transport', 'apiKey', 'subject']);
  });

  it("keeps what was typed in a field the next variant has too, and sends the chosen variant's fields only", () => {
    const smtp = initialValues(fieldsFromSchema(emailSchema, ['password', 'apiKey']));
    const typed = { ...smtp, host: 'mail.test', subject: 'Report {data.name}' };
    const sendgrid = valuesForVariant(emailSchema, ['password', 'apiKey'], typed, 'sendgrid');
    expect(sendgrid).toEqual({ transport: 'sendgrid', apiKey: '', subject: 'Report {data.name}' });
    const { config } = configFromValues(fieldsFromSchema(emailSchema, ['password', 'apiKey'], 'sendgrid'), { ...sendgrid, apiKey: 'SG.key' });
    expect(config).toEqual({ transport: 'sendgrid', apiKey: 'SG.key', subject: 'Report {data.name}' });
  });

  it('shows a stored config in its own variant', () => {
    const fields = fieldsFromSchema(emailSchema, ['password', 'apiKey'], 'sendgrid');
    expect(initialValues(fields, { transport: 'sendgrid', apiKey: '********', subject: 'x' })).toEqual({ transport: 'sendgrid', apiKey: '********', subject: 'x' });
  });
});

describe('initialValues', () => {
  const fields = fieldsFromSchema(webhookSchema, ['secret']);

  it('prefills the defaults for a new destination', () => {
    expect(initialValues(fields)).toEqual({ url: '', method: 'POST', headers: [], secret: '' });
  });

  it('prefills a stored config, never a secret', () => {
    const stored = { url: 'https://example.com/a', method: 'PUT', headers: { 'x-team': 'a', 'x-env': 'prod' } };
    expect(initialValues(fields, stored)).toEqual({
      url: 'https://example.com/a',
      method: 'PUT',
      headers: [
        { key: 'x-team', value: 'a' },
        { key: 'x-env', value: 'prod' },
      ],
      secret: '',
    });
  });
});

describe('configFromValues', () => {
  const fields = fieldsFromSchema(webhookSchema, ['secret']);

  it('sends the values as the API takes them, leaving out a blank secret and blank header rows', () => {
    const { config, problems } = configFromValues(fields, {
      url: ' https://example.com/hook ',
      method: 'PATCH',
      headers: [
        { key: 'x-team', value: 'a' },
        { key: '', value: '' },
      ],
      secret: '',
    });
    expect(problems).toEqual([]);
    expect(config).toEqual({ url: 'https://example.com/hook', method: 'PATCH', headers: { 'x-team': 'a' } });
    expect(config).not.toHaveProperty('secret');
  });

  it('sends a secret that was typed, as typed', () => {
    const { config } = configFromValues(fields, { url: 'https://e.com', method: 'POST', headers: [], secret: ' whsec_x ' });
    expect(config.secret).toBe(' whsec_x ');
  });

  it('sends a blank required text for the API to name it, and leaves out blank optional fields', () => {
    const schema: JsonSchema = {
      type: 'object',
      properties: { host: { type: 'string' }, path: { type: 'string' }, port: { type: 'integer' }, on: { type: 'boolean' } },
      required: ['host'],
    };
    expect(configFromValues(fieldsFromSchema(schema), { host: '', path: '', port: '', on: false })).toEqual({
      config: { host: '', on: false },
      problems: [],
    });
  });

  it('turns numbers and JSON into values, and names what cannot be read', () => {
    const schema: JsonSchema = {
      type: 'object',
      properties: { port: { type: 'integer' }, topics: { type: 'array' }, extra: { type: 'array' } },
      required: ['port'],
    };
    const fields = fieldsFromSchema(schema);
    expect(configFromValues(fields, { port: '8080', topics: '["a","b"]', extra: '' })).toEqual({
      config: { port: 8080, topics: ['a', 'b'] },
      problems: [],
    });
    expect(configFromValues(fields, { port: '', topics: '[a', extra: '' }).problems).toEqual([
      { path: 'config.port', message: 'is required' },
      { path: 'config.topics', message: 'must be JSON' },
    ]);
  });

  it('names a header value without a key, and a key given twice', () => {
    const { problems } = configFromValues(fields, {
      url: 'https://e.com',
      method: 'POST',
      headers: [
        { key: '', value: 'orphan' },
        { key: 'x-a', value: '1' },
        { key: 'x-a', value: '2' },
      ],
      secret: '',
    });
    expect(problems).toEqual([
      { path: 'config.headers', message: 'a value ("orphan") has no key' },
      { path: 'config.headers.x-a', message: 'is given twice' },
    ]);
  });

  it('sends a list of text typed comma separated as a list, and leaves a blank one out', () => {
    const listFields = fieldsFromSchema({ type: 'object', properties: { secretHeaders: { type: 'array', items: { type: 'string' } } } });
    expect(initialValues(listFields, { secretHeaders: ['x-token', 'x-signature'] })).toEqual({ secretHeaders: 'x-token, x-signature' });
    expect(configFromValues(listFields, { secretHeaders: ' x-token,, x-other ,' })).toEqual({ config: { secretHeaders: ['x-token', 'x-other'] }, problems: [] });
    expect(configFromValues(listFields, { secretHeaders: ' ' })).toEqual({ config: {}, problems: [] });
  });

  it('sends a stored credential back as the API shows it ("********"), which keeps it, unless a new one is typed', () => {
    const withPassword = fieldsFromSchema({ type: 'object', properties: { host: { type: 'string' }, password: { type: 'string' } }, required: ['host', 'password'] }, [
      'password',
    ]);
    const editing = initialValues(withPassword, { host: 'mail.example.com', password: '********' });
    expect(editing).toEqual({ host: 'mail.example.com', password: '********' });
    expect(configFromValues(withPassword, editing).config).toEqual({ host: 'mail.example.com', password: '********' });
    expect(configFromValues(withPassword, { ...editing, password: 'new-one' }).config).toEqual({ host: 'mail.example.com', password: 'new-one' });
  });

  it('round-trips a stored config through the form unchanged', () => {
    const stored = { url: 'https://example.com/a', method: 'PUT', headers: { 'x-team': 'a' } };
    expect(configFromValues(fields, initialValues(fields, stored))).toEqual({ config: stored, problems: [] });
  });
});
