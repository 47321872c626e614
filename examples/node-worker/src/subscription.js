// Keeps one SubscribeWork stream open: subscribes again at once when the server sends
// `reconnect`, and after a growing, jittered delay when the stream breaks.

import grpc from '@grpc/grpc-js';
import { setTimeout as sleep } from 'node:timers/promises';
import { TRANSIENT_CODES } from './api.js';
import { say } from './say.js';

// A stream the server closed on its way down ends CANCELLED; subscribing again is right.
const RESUBSCRIBE_CODES = new Set([...TRANSIENT_CODES, grpc.status.CANCELLED]);

/**
 * Delays of `base * 2**n` seconds capped at `cap`, each scaled by a random factor in
 * [0.5, 1) so that workers cut off together do not come back together.
 */
export class Backoff {
  constructor({ base = 0.25, cap = 30, random = Math.random } = {}) {
    Object.assign(this, { base, cap, random, attempt: 0 });
  }

  nextDelayMs() {
    const delay = Math.min(this.cap, this.base * 2 ** Math.min(this.attempt, 30));
    this.attempt += 1;
    return delay * (0.5 + this.random() / 2) * 1000;
  }

  reset() {
    this.attempt = 0;
  }
}

/**
 * Hands every item of the work stream to `onItem` until `signal` aborts. `request()` is
 * read on each attempt, so that free slots and held leases are current. Rejects on an
 * error that subscribing again cannot fix (a bad pool name, a rejected API key).
 */
export async function subscribeForever({ api, request, onItem, signal }) {
  const backoff = new Backoff();
  while (!signal.aborted) {
    let reconnect = false;
    try {
      reconnect = await subscribeOnce(api, request(), onItem, signal, backoff);
    } catch (error) {
      if (signal.aborted) return;
      if (!RESUBSCRIBE_CODES.has(error.code)) throw error;
      say.warn(`work stream broke: ${error.details || error.message}`);
    }
    if (!reconnect) {
      await sleep(backoff.nextDelayMs(), undefined, { signal }).catch(() => {});
    }
  }
}

/** One stream: true when the server asked to reconnect, false when the stream just ended. */
async function subscribeOnce(api, request, onItem, signal, backoff) {
  const call = api.subscribeWork(request);
  const close = () => call.cancel();
  signal.addEventListener('abort', close, { once: true });
  try {
    for await (const response of call) {
      if (response.item === 'started') backoff.reset();
      if (response.item === 'reconnect') {
        say.info(`the server asked to subscribe again: ${response.reconnect.reason}`);
        return true;
      }
      await onItem(response);
    }
    return false;
  } finally {
    signal.removeEventListener('abort', close);
    // Cancelling our own call reports CANCELLED as an error event: expected, not a failure.
    call.on('error', () => {});
    call.cancel();
  }
}
