import { ApiClient, Json } from '@dispatch/testing';
import { StreamTokens } from '../apps/api/src/live/stream-tokens';
import { errorShape } from './answers';
import { useSystem } from './system';

describe('stream tokens (POST /v1/stream-tokens)', () => {
  const system = useSystem({ worker: false });
  let tokens: StreamTokens;

  beforeAll(() => {
    tokens = new StreamTokens(system.config.encryption);
  });

  const mint = (body: unknown, client: ApiClient = system.client) => client.post('/v1/stream-tokens', body);
  const fields = (answer: { body: Json }) => answer.body.details?.map((detail: Json) => detail.path);

  it('gives a producer and an admin a token for a subject of their organization, valid for ttlSeconds', async () => {
    const asked = Date.now();
    const answer = await mint({ subject: 'user_123@shop.example|eu', ttlSeconds: 600 }, system.client.as(system.organization.producerKey));
    expect(answer.status).toBe(201);
    expect(answer.body).toEqual({ token: expect.any(String), expiresAt: expect.any(String) });
    const expiresAt = new Date(answer.body.expiresAt).getTime();
    expect(expiresAt).toBeGreaterThanOrEqual(asked + 600_000 - 1000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 600_000);
    expect(tokens.verify(answer.body.token)).toEqual({
      organizationId: system.organization.organizationId,
      subject: 'user_123@shop.example|eu',
      expiresAt: new Date(answer.body.expiresAt),
    });
    // Valid until then, not after.
    expect(tokens.verify(answer.body.token, new Date(expiresAt - 1000))).not.toBeNull();
    expect(tokens.verify(answer.body.token, new Date(expiresAt))).toBeNull();

    const byAdmin = await mint({ subject: 'user_123', ttlSeconds: 86_400 });
    expect(byAdmin.status).toBe(201);
    expect(tokens.verify(byAdmin.body.token)).toMatchObject({ organizationId: system.organization.organizationId, subject: 'user_123' });
    expect(new Date(byAdmin.body.expiresAt).getTime()).toBeGreaterThan(Date.now() + 86_400_000 - 60_000);
  });

  it('makes a token valid for an hour when no ttlSeconds is given', async () => {
    const asked = Date.now();
    const answer = await mint({ subject: 'device-42' });
    expect(answer.status).toBe(201);
    const expiresAt = new Date(answer.body.expiresAt).getTime();
    expect(expiresAt).toBeGreaterThanOrEqual(asked + 3_600_000 - 1000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 3_600_000);
    expect(tokens.verify(answer.body.token)?.subject).toBe('device-42');
  });

  it.each([
    ['no subject', {}, ['subject']],
    ['a subject with a space', { subject: 'user 123' }, ['subject']],
    ['a subject with a brace', { subject: '{data.user_id}' }, ['subject']],
    ['an empty subject', { subject: '' }, ['subject']],
    ['a subject of 201 characters', { subject: 'a'.repeat(201) }, ['subject']],
    ['a subject that is not text', { subject: 123 }, ['subject']],
    ['ttlSeconds 59', { subject: 'user_1', ttlSeconds: 59 }, ['ttlSeconds']],
    ['ttlSeconds 86401', { subject: 'user_1', ttlSeconds: 86_401 }, ['ttlSeconds']],
    ['ttlSeconds 1.5', { subject: 'user_1', ttlSeconds: 1.5 }, ['ttlSeconds']],
    ['ttlSeconds 600.5', { subject: 'user_1', ttlSeconds: 600.5 }, ['ttlSeconds']],
    ['ttlSeconds "x"', { subject: 'user_1', ttlSeconds: 'x' }, ['ttlSeconds']],
    ['an unknown field', { subject: 'user_1', organizationId: 'org_other' }, ['']],
    ['a bad subject and a bad ttlSeconds', { subject: 'a b', ttlSeconds: 0 }, ['subject', 'ttlSeconds']],
  ])('answers 400 naming the field for %s', async (_case, body, named) => {
    const answer = await mint(body);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject(errorShape(400, 'Bad Request'));
    expect(fields(answer)).toEqual(named);
    expect(answer.body.token).toBeUndefined();
  });

  it('takes a subject of exactly 200 characters of every allowed kind', async () => {
    const subject = `AZaz09_-.:@+=|${'x'.repeat(186)}`;
    const answer = await mint({ subject, ttlSeconds: 60 });
    expect(answer.status).toBe(201);
    expect(tokens.verify(answer.body.token)?.subject).toBe(subject);
  });

  it('refuses a viewer key (403) and a request without a key (401)', async () => {
    const asViewer = await mint({ subject: 'user_1' }, system.client.as(system.organization.viewerKey));
    expect(asViewer.status).toBe(403);
    expect(asViewer.body).toEqual(errorShape(403, 'Forbidden'));
    const anonymous = await mint({ subject: 'user_1' }, system.client.as(undefined));
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toEqual(errorShape(401, 'Unauthorized'));
  });

  it('is described in the OpenAPI document', async () => {
    const operation = (await system.client.get('/docs-json')).body.paths['/v1/stream-tokens']?.post;
    expect(operation).toBeDefined();
    const body = operation.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(['subject']);
    expect(body.properties.ttlSeconds).toMatchObject({ minimum: 60, maximum: 86_400, default: 3600 });
    expect(operation.responses['201'].content['application/json'].schema.required).toEqual(['token', 'expiresAt']);
  });
});
