import Fastify from 'fastify';
import { BODY_MAX_DEPTH } from '@dispatch/domain';
import { acceptJsonBodies } from './json-body';

/** `levels` arrays inside one another around `inner`. */
const nested = (levels: number, inner = '') => '['.repeat(levels) + inner + ']'.repeat(levels);

/** An event whose `data` nests `levels` objects: `{"data":{"a":{"a":…}}}`. */
const deepEvent = (levels: number) => `{"type":"order.created","data":${'{"a":'.repeat(levels - 1)}{"leaf":true}${'}'.repeat(levels - 1)}}`;

async function setup() {
  const mocks = { route: jest.fn((body: unknown) => body) };
  const sut = Fastify();
  acceptJsonBodies(sut);
  sut.post('/echo', async (request) => ({ received: mocks.route(request.body) }));
  await sut.ready();
  return { sut, mocks };
}

const post = (sut: Awaited<ReturnType<typeof setup>>['sut'], payload: string) =>
  sut.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload });

describe('acceptJsonBodies', () => {
  it('answers 400 naming the limit for a body nested deeper than it, before any route sees it', async () => {
    const { sut, mocks } = await setup();
    for (const payload of [nested(100_000), nested(BODY_MAX_DEPTH + 1), deepEvent(BODY_MAX_DEPTH)]) {
      const answer = await post(sut, payload);
      expect(answer.statusCode).toBe(400);
      expect(answer.json().message).toBe(`the body nests arrays and objects deeper than ${BODY_MAX_DEPTH} levels`);
    }
    expect(mocks.route).not.toHaveBeenCalled();
  });

  it('accepts a body at the limit, and an event whose data nests 32 levels', async () => {
    const { sut, mocks } = await setup();
    expect((await post(sut, nested(BODY_MAX_DEPTH, '1'))).statusCode).toBe(200);
    const event = await post(sut, deepEvent(32));
    expect(event.statusCode).toBe(200);
    expect(event.json().received).toEqual(JSON.parse(deepEvent(32)));
    expect(mocks.route).toHaveBeenCalledTimes(2);
  });

  it('still answers 400 for malformed JSON, and takes an empty body as none', async () => {
    const { sut } = await setup();
    const malformed = await post(sut, '{"a":');
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().message).toContain('the body is not valid JSON');
    expect((await post(sut, '')).json()).toEqual({});
  });

  it('never quotes the body in its error: it may hold a credential', async () => {
    const { sut } = await setup();
    for (const payload of ['{"config":{"headers":{"authorization": Bearer hunter2-token}}}', 'Bearer hunter2-token', '{"a":"b"} hunter2-token']) {
      const malformed = await post(sut, payload);
      expect(malformed.statusCode).toBe(400);
      expect(malformed.json().message).toMatch(/^the body is not valid JSON \(/);
      expect(malformed.body).not.toContain('hunter2');
    }
  });
});
