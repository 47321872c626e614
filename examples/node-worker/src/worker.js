// The worker: takes runs from one work pool's stream, executes each with its JavaScript
// handler, heartbeats the runs it holds, and stops them when they are cancelled.

import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { durationSeconds } from './convert.js';
import { LogShipper } from './logs.js';
import { RunExecution, StopReason } from './run.js';
import { say } from './say.js';
import { subscribeForever } from './subscription.js';

const DEFAULT_HEARTBEAT_SECONDS = 5;

export function defaultWorkerName() {
  return `${hostname()}-${process.pid}`;
}

/** A timed wait that `wake()` can end early; a wake with nobody waiting is kept for the next wait. */
class Wakeup {
  constructor() {
    this.woken = false;
    this.resolve = null;
  }

  wake() {
    this.woken = true;
    this.resolve?.();
  }

  async wait(ms) {
    if (!this.woken) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, ms);
        this.resolve = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.resolve = null;
    this.woken = false;
  }
}

export class Worker {
  /**
   * @param {object} options
   * @param {import('./api.js').RunplaneApi} options.api
   * @param {string} options.pool work pool to take runs from
   * @param {string[]} [options.queues] only these queues of the pool; all when empty
   * @param {number} [options.limit] most runs at once
   * @param {string} [options.name] stable name of this worker
   * @param {string} [options.root] folder that relative entrypoints are resolved against
   * @param {number} [options.heartbeatSeconds] heartbeat at least this often
   * @param {number} [options.cancelGraceSeconds] how long an aborted handler may take to stop
   * @param {number} [options.shutdownGraceSeconds] how long runs may finish after a stop
   */
  constructor({
    api,
    pool,
    queues = [],
    limit = 4,
    name = defaultWorkerName(),
    root = process.cwd(),
    heartbeatSeconds = null,
    cancelGraceSeconds = 30,
    shutdownGraceSeconds = 30,
  }) {
    if (!pool) throw new Error('a work pool name is required');
    if (!Number.isInteger(limit) || limit < 1) throw new Error('limit must be a whole number of at least 1');
    Object.assign(this, { api, pool, queues, limit, name, root, heartbeatSeconds });
    Object.assign(this, { cancelGraceSeconds, shutdownGraceSeconds });
    this.logs = new LogShipper(api);
    this.runs = new Map();
    this.session = null;
    this.stopping = new AbortController();
    this.heartbeatWakeup = new Wakeup();
  }

  freeSlots() {
    return this.stopping.signal.aborted ? 0 : Math.max(0, this.limit - this.runs.size);
  }

  /** Takes no more work, then lets the runs in flight finish within the shutdown grace period. */
  stop() {
    this.stopping.abort();
  }

  /** Works until `stop()`; rejects when the work stream fails for good. */
  async run() {
    const heartbeatsDone = new AbortController();
    const heartbeats = this.heartbeats(heartbeatsDone.signal);
    let failure = null;
    try {
      await subscribeForever({
        api: this.api,
        request: () => this.subscribeRequest(),
        onItem: (response) => this.onItem(response),
        signal: this.stopping.signal,
      });
    } catch (error) {
      failure = error;
      this.stop();
    }
    await this.drain();
    heartbeatsDone.abort();
    this.heartbeatWakeup.wake();
    await heartbeats;
    await this.logs.close();
    if (failure !== null) throw failure;
  }

  subscribeRequest() {
    return {
      work_pool_name: this.pool,
      work_queue_names: this.queues,
      runner_name: this.name,
      // Beyond the runs of the held leases: a full worker subscribes with none free and is
      // sent a run when one of its own ends.
      free_slots: this.freeSlots(),
      held_lease_ids: [...this.runs.values()].map((run) => run.leaseId),
      // Only deployments created with runtime "node" are this worker's to run.
      runtimes: ["node"],
    };
  }

  async onItem(response) {
    switch (response.item) {
      case 'started':
        this.session = response.started;
        say.info(`subscribed to work pool '${this.pool}' as ${this.name}`);
        this.heartbeatWakeup.wake();
        break;
      case 'assignment':
        this.onAssignment(response.assignment);
        break;
      case 'cancel': {
        const { flow_run_id: id, reason } = response.cancel;
        say.info(`cancelling flow run ${id}: ${reason}`);
        this.runs.get(id)?.requestStop(StopReason.CANCEL, 'the flow run was cancelled');
        break;
      }
      default: // ping: the stream is alive
    }
  }

  onAssignment(assignment) {
    const id = assignment.flow_run.id;
    if (this.runs.has(id)) return; // a repeated push of a run already in hand
    const execution = new RunExecution({
      assignment,
      api: this.api,
      logs: this.logs,
      root: this.root,
      cancelGraceSeconds: this.cancelGraceSeconds,
      workerName: this.name,
    });
    if (this.stopping.signal.aborted) {
      execution.release('the node worker is shutting down');
      return;
    }
    // No check against the limit: the server counts this worker's slots itself, and a run
    // holds one until its final state is written, though it may still be finishing here.
    say.info(`flow run ${id} (${assignment.flow_run.name}) assigned: ${assignment.deployment?.entrypoint}`);
    this.runs.set(id, execution);
    execution.finished = execution.execute().finally(() => {
      this.runs.delete(id);
      this.heartbeatWakeup.wake();
    });
  }

  async drain() {
    if (this.runs.size === 0) return;
    const grace = this.shutdownGraceSeconds;
    say.info(`stopping: waiting up to ${grace} s for ${this.runs.size} run(s)`);
    const allFinished = () => Promise.all([...this.runs.values()].map((run) => run.finished));
    const timeUp = sleep(grace * 1000, 'time up', { ref: false });
    if ((await Promise.race([allFinished(), timeUp])) === 'time up') {
      for (const run of this.runs.values()) run.requestStop(StopReason.SHUTDOWN, 'the node worker shut down');
      await allFinished();
    }
  }

  // --- heartbeats ----------------------------------------------------------------------

  heartbeatIntervalMs() {
    const asked = durationSeconds(this.session?.heartbeat_interval) || DEFAULT_HEARTBEAT_SECONDS;
    // Never slower than the server asks; a shorter interval may be chosen locally.
    return 1000 * (this.heartbeatSeconds ? Math.min(asked, this.heartbeatSeconds) : asked);
  }

  async heartbeats(signal) {
    while (!signal.aborted) {
      await this.heartbeatWakeup.wait(this.heartbeatIntervalMs());
      if (!signal.aborted) await this.heartbeatOnce();
    }
  }

  async heartbeatOnce() {
    // The last session's ids serve between subscriptions and while stopping too: the runs
    // need their heartbeats whatever happens to the stream.
    const session = this.session;
    if (session === null) return;
    let answer;
    try {
      answer = await this.api.call(this.api.work, 'Heartbeat', {
        runner_id: session.runner_id,
        session_id: session.session_id,
        running_flow_run_ids: [...this.runs.keys()],
        free_slots: this.freeSlots(),
      });
    } catch (error) {
      say.warn(`heartbeat failed: ${error.details || error.message}`);
      return;
    }
    for (const id of answer.cancel_flow_run_ids) {
      this.runs.get(id)?.requestStop(StopReason.CANCEL, 'the flow run was cancelled');
    }
    for (const id of answer.unknown_flow_run_ids) {
      this.runs.get(id)?.requestStop(StopReason.FORGET, 'the server does not assign it to this worker');
    }
    // Final already (set by someone else, since this worker's runs leave its map once they
    // report): abort what is left of the handler and report nothing.
    for (const id of answer.finished_flow_run_ids ?? []) {
      this.runs.get(id)?.requestStop(StopReason.FORGET, 'the flow run is already final');
    }
  }
}
