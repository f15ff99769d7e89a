import { Logger } from '@nestjs/common';
import { OpenCircuits } from './open-circuits';

afterEach(() => jest.restoreAllMocks());

describe('OpenCircuits', () => {
  it('observes nothing until a circuit source is registered', async () => {
    expect(await new OpenCircuits().read()).toBeNull();
  });

  it('answers the destinations whose circuit is open or half-open', async () => {
    const sut = new OpenCircuits();
    sut.use(
      async () =>
        new Map([
          ['dst_a', 'open'],
          ['dst_b', 'half-open'],
          ['dst_c', 'closed'],
        ]),
    );
    expect(await sut.read()).toEqual(new Set(['dst_a', 'dst_b']));
  });

  it('answers null, observing nothing, when the circuits cannot be read', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const sut = new OpenCircuits();
    sut.use(async () => {
      throw new Error('Connection is closed.');
    });
    expect(await sut.read()).toBeNull();
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('circuit_open'));
  });
});
