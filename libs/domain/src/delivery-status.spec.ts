import { canTransition, manualRetryAllowed } from './delivery-status';

describe('delivery status transitions', () => {
  it('moves a pending delivery into an attempt, never straight to delivered', () => {
    expect(canTransition('pending', 'delivering')).toBe(true);
    expect(canTransition('pending', 'delivered')).toBe(false);
  });

  it('settles an attempt as delivered, retrying or failed', () => {
    for (const to of ['delivered', 'retrying', 'failed'] as const) expect(canTransition('delivering', to)).toBe(true);
  });

  it('lets an operator send a settled delivery again', () => {
    expect(canTransition('failed', 'delivering')).toBe(true);
    expect(canTransition('delivered', 'delivering')).toBe(true);
    expect(canTransition('cancelled', 'pending')).toBe(true);
  });

  it('cannot cancel an attempt in flight or a delivered delivery', () => {
    expect(canTransition('delivering', 'cancelled')).toBe(false);
    expect(canTransition('delivered', 'cancelled')).toBe(false);
  });

  it('refuses a manual retry while an attempt is in flight', () => {
    expect(manualRetryAllowed('delivering')).toBe(false);
    expect(manualRetryAllowed('failed')).toBe(true);
    expect(manualRetryAllowed('delivered')).toBe(true);
  });
});
