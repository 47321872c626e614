// Ships run log lines to LogService.WriteLogs in batches, as the Python engine does:
// every second or every 1,000 lines, and on demand before a run reports its final state.

import { format } from 'node:util';
import { timestamp } from './convert.js';
import { say } from './say.js';

// Python logging level numbers, which the contract uses.
export const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 };

// Handlers' lines go under the Python engine's flow run logger name, so that the CLI and
// log filters treat them alike.
export const FLOW_RUN_LOGGER = 'runplane.flow_runs';

const BATCH_SIZE = 1000;
const FLUSH_INTERVAL_MS = 1000;
const MAX_MESSAGE_BYTES = 1024 * 1024;

/** `message` cut to the contract's 1 MB limit, with a note saying so. */
export function truncateMessage(message) {
  const bytes = Buffer.from(message);
  if (bytes.length <= MAX_MESSAGE_BYTES) return message;
  const note = (dropped) => `... [truncated ${dropped} bytes: log lines are limited to 1 MB]`;
  const keep = MAX_MESSAGE_BYTES - Buffer.byteLength(note(bytes.length));
  // Decoding may drop a split multi-byte character; the note counts what was really cut.
  const kept = bytes.subarray(0, keep).toString().replace(/\uFFFD$/, '');
  return kept + note(bytes.length - Buffer.byteLength(kept));
}

export class LogShipper {
  constructor(api) {
    this.api = api;
    this.pending = [];
    this.sending = Promise.resolve();
    this.timer = setInterval(() => this.flush(), FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  /** Queues one line of a flow run. */
  add(flowRunId, level, message, loggerName = FLOW_RUN_LOGGER) {
    this.pending.push({
      flow_run_id: flowRunId,
      level,
      logger_name: loggerName,
      message: truncateMessage(String(message)),
      timestamp: timestamp(),
    });
    if (this.pending.length >= BATCH_SIZE) this.flush();
  }

  /** A logger for one run: debug, info, warn and error, formatting their arguments as console.log does. */
  loggerFor(flowRunId, loggerName = FLOW_RUN_LOGGER) {
    const logger = {};
    for (const [name, level] of Object.entries(LEVELS)) {
      logger[name] = (...args) => this.add(flowRunId, level, format(...args), loggerName);
    }
    return logger;
  }

  /** Sends every queued line; resolves once they were sent (or given up on). */
  flush() {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, BATCH_SIZE);
      // One batch at a time, in order.
      this.sending = this.sending.then(() => this.send(batch));
    }
    return this.sending;
  }

  async send(records) {
    try {
      // Not retried past the channel's own retries: a write has no request id to dedupe it.
      await this.api.call(this.api.logs, 'WriteLogs', { records });
    } catch (error) {
      say.error(`${records.length} log line(s) could not be stored: ${error.message}`);
    }
  }

  async close() {
    clearInterval(this.timer);
    await this.flush();
  }
}
