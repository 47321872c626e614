// Example flows written in JavaScript. Each is an exported function
// `async (parameters, context) => result`; a deployment names one as its entrypoint,
// e.g. "handlers/examples.js:greet".

import { setTimeout as sleep } from 'node:timers/promises';

/** Returns a greeting: the run ends COMPLETED with this object as its result. */
export async function greet({ name = 'world' }, { logger, flowRun }) {
  logger.info(`greeting ${name} in flow run ${flowRun.name}`);
  return { greeting: `Hello, ${name}!`, runtime: `node ${process.version}` };
}

/** Throws: the run ends FAILED, its state message naming the error. */
export async function fail({ reason = 'something went wrong' }, { logger }) {
  logger.warn(`about to fail: ${reason}`);
  throw new Error(reason);
}

/**
 * Waits, as long-running work does, until the time is up or the run is cancelled: the
 * signal aborts the timer, the handler rejects, and the run ends CANCELLED.
 */
export async function wait({ seconds = 60 }, { logger, signal }) {
  logger.info(`waiting ${seconds} s`);
  try {
    await sleep(seconds * 1000, undefined, { signal });
  } catch (error) {
    if (signal.aborted) logger.warn(`aborted: ${signal.reason.message}`);
    throw error;
  }
  return { waited: seconds };
}
