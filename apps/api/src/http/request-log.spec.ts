import Fastify from 'fastify';
import type { Logger } from '@nestjs/common';
import { logRequests } from './request-log';

async function setup() {
  const mocks = { logger: { debug: jest.fn(), error: jest.fn() } };
  const sut = Fastify();
  logRequests(sut, mocks.logger as unknown as Logger);
  sut.get('/v1/downloads/:token', async () => ({ ok: true }));
  sut.get('/v1/broken/:id', async (_request, reply) => reply.code(500).send({ error: 'boom' }));
  sut.get('/health/ready', async (_request, reply) => reply.code(503).send({ status: 'unavailable' }));
  await sut.ready();
  return { sut, mocks };
}

describe('logRequests', () => {
  it('writes a request answered under 500 at debug only, with its route pattern and never its path, query or headers', async () => {
    const { sut, mocks } = await setup();
    await sut.inject({ method: 'GET', url: '/v1/downloads/dl_secret-token?sig=abc', headers: { authorization: 'Bearer dsp_key' } });
    expect(mocks.logger.error).not.toHaveBeenCalled();
    expect(mocks.logger.debug).toHaveBeenCalledWith({
      reqId: expect.any(String),
      method: 'GET',
      route: '/v1/downloads/:token',
      statusCode: 200,
      durationMs: expect.any(Number),
      msg: expect.stringMatching(/^GET \/v1\/downloads\/:token answered 200 in \d+ ms$/),
    });
    expect(JSON.stringify(mocks.logger.debug.mock.calls)).not.toMatch(/secret-token|sig=|dsp_key/);
  });

  it('writes an answer of 500 or more at error, except from a health probe', async () => {
    const { sut, mocks } = await setup();
    await sut.inject({ method: 'GET', url: '/v1/broken/7' });
    await sut.inject({ method: 'GET', url: '/health/ready' });
    expect(mocks.logger.error).toHaveBeenCalledTimes(1);
    expect(mocks.logger.error).toHaveBeenCalledWith(expect.objectContaining({ route: '/v1/broken/:id', statusCode: 500 }));
    expect(mocks.logger.debug).toHaveBeenCalledWith(expect.objectContaining({ route: '/health/ready', statusCode: 503 }));
  });

  it('names a request no route matched without its path', async () => {
    const { sut, mocks } = await setup();
    await sut.inject({ method: 'GET', url: '/nothing/here' });
    expect(mocks.logger.debug).toHaveBeenCalledWith(expect.objectContaining({ route: '(no route)', statusCode: 404 }));
  });
});
