import { canTransition, manualRetryAllowed, statusesThatCanBecome } from './delivery-status';

describe('delivery status transitions', () => {
  it('moves a pending delivery into an attempt, never straight to delivered', () => {
    expect(canTransition('pending', 'delivering')).toBe(true);
    expect(canTransition('pending', 'delivered')).toBe(false);
  });

  it('settles an attempt as delivered, retrying or failed', () => {
    for (const to of ['delivered', 'retrying', 'failed'] as const) expect(canTransition('delivering', to)).toBe(true);
  });

  it('makes an attempt from a waiting delivery, a dead letter retried in its queue, or one whose worker died', () => {
    expect(statusesThatCanBecome('delivering')).toEqual(['pending', 'delivering', 'retrying', 'failed']);
  });

  it('never sends a delivered or cancelled delivery again unless an operator asks', () => {
    expect(canTransition('delivered', 'delivering')).toBe(false);
    expect(canTransition('cancelled', 'delivering')).toBe(false);
    expect(canTransition('delivered', 'pending')).toBe(true);
    expect(canTransition('cancelled', 'pending')).toBe(true);
  });

  it('cancels only deliveries that are waiting or dead letters', () => {
    expect(statusesThatCanBecome('cancelled')).toEqual(['pending', 'retrying', 'failed']);
  });

  it('refuses a manual retry while an attempt is in flight', () => {
    expect(manualRetryAllowed('delivering')).toBe(false);
    for (const status of ['pending', 'retrying', 'delivered', 'failed', 'cancelled'] as const) expect(manualRetryAllowed(status)).toBe(true);
  });
});
