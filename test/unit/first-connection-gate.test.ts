import { describe, expect, test } from 'vitest';
import { FirstConnectionGate } from '../../src/registry/dispatchers.js';

/** Requests to an origin not connected yet wait for its first connection to say which protocol it speaks. */
describe('FirstConnectionGate', () => {
  const settledSoon = async (promise: Promise<void>) =>
    Promise.race([promise.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 20))]);

  test('the first request goes at once; the others wait until the protocol is learnt, then every one goes', async () => {
    const gate = new FirstConnectionGate();
    expect(await settledSoon(gate.pass('https://a'))).toBe(true);
    const second = gate.pass('https://a');
    const third = gate.pass('https://a');
    expect(await settledSoon(second)).toBe(false);
    expect(await settledSoon(gate.pass('https://b'))).toBe(true); // another origin is not held
    gate.learnt('https://a', 'h2');
    expect([await settledSoon(second), await settledSoon(third)]).toEqual([true, true]);
    expect(await settledSoon(gate.pass('https://a'))).toBe(true);
    expect(gate.protocols()).toEqual({ 'https://a': 'h2' });
    expect(gate.protocolOf('https://b')).toBeUndefined();
  });

  test('a first request that fails before any connection lets the waiting ones go, to connect for themselves', async () => {
    const gate = new FirstConnectionGate();
    await gate.pass('https://a');
    const waiting = gate.pass('https://a');
    gate.settled('https://a');
    expect(await settledSoon(waiting)).toBe(true);
  });
});
