// One assigned flow run: load its handler, propose RUNNING under the lease, call the
// handler, then report COMPLETED with its JSON result, FAILED with its error, or CANCELLED.

import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { durationSeconds, parseJsonObject, timestampMs } from './convert.js';
import { loadHandler } from './handlers.js';
import { inlineResult } from './results.js';
import { say } from './say.js';

// The worker's own lines about a run, next to the handler's in the run's log.
const WORKER_LOGGER = 'runplane.node_worker';

// States in which the run still belongs to this worker.
const HELD_TYPES = new Set(['PENDING', 'RUNNING', 'CANCELLING', 'PAUSED']);

// Why the worker stops a run, which decides what it reports afterwards.
export const StopReason = Object.freeze({
  CANCEL: 'cancel', // the run was cancelled: report CANCELLED
  SHUTDOWN: 'shutdown', // the worker shuts down: give the run back, or report CRASHED
  FORGET: 'forget', // the server says the run is not ours: report nothing
});

/** A state's type without the enum prefix: 'RUNNING' for 'STATE_TYPE_RUNNING'. */
export function typeOf(state) {
  return state ? state.type.replace(/^STATE_TYPE_/, '') : null;
}

function titleCase(type) {
  return type.charAt(0) + type.slice(1).toLowerCase();
}

/** "Name: message", or the name alone, as the Python engine describes exceptions. */
export function describeError(error) {
  if (error instanceof Error) return error.message ? `${error.name}: ${error.message}` : error.name;
  return `thrown value: ${String(error)}`;
}

export class RunExecution {
  constructor({ assignment, api, logs, root, cancelGraceSeconds, workerName }) {
    this.assignment = assignment;
    this.flowRun = assignment.flow_run;
    this.id = assignment.flow_run.id;
    this.leaseId = assignment.lease_id;
    this.api = api;
    this.logs = logs;
    this.root = root;
    this.cancelGraceMs = cancelGraceSeconds * 1000;
    this.workerName = workerName;
    this.controller = new AbortController();
    this.stopReason = null;
    this.stopMessage = '';
    this.started = false;
    this.log = logs.loggerFor(this.id, WORKER_LOGGER);
  }

  /** Asks the run to stop; the first reason wins. Aborts the handler's signal. */
  requestStop(reason, message) {
    if (this.stopReason !== null) return;
    this.stopReason = reason;
    this.stopMessage = message;
    this.controller.abort(new DOMException(message, 'AbortError'));
  }

  /** Runs the whole lifecycle; never rejects. */
  async execute() {
    try {
      await this.lifecycle();
    } catch (error) {
      // The API could not be reached for long: the server settles the run on its own
      // (an expired lease sends it back to SCHEDULED, missing heartbeats mark it CRASHED).
      say.error(`flow run ${this.id}: ${error.details || error.message}`);
    }
  }

  async lifecycle() {
    const entrypoint = this.assignment.deployment?.entrypoint;
    let handler;
    try {
      handler = await loadHandler(entrypoint, this.root);
    } catch (error) {
      this.log.error(error.message);
      await this.reportForced('CRASHED', `could not load handler '${entrypoint}': ${error.message}`);
      return;
    }
    if (this.stopReason === null) {
      const answer = await this.propose('RUNNING', {}, { signal: this.controller.signal });
      if (answer !== null && typeOf(answer.state) !== 'RUNNING') {
        say.info(`flow run ${this.id} was not started: ${answer.reason || typeOf(answer.state)}`);
        return;
      }
      this.started = answer !== null;
    }
    const outcome = this.stopReason === null ? await this.callHandler(handler, entrypoint) : null;
    await this.settle(outcome);
  }

  async callHandler(handler, entrypoint) {
    const { signal } = this.controller;
    const run = this.flowRun;
    const deployment = this.assignment.deployment;
    const context = {
      signal,
      logger: this.logs.loggerFor(this.id),
      flowRun: { id: run.id, name: run.name, attempt: run.attempt, tags: run.tags },
      deployment: { id: deployment.id, name: deployment.name, entrypoint },
      jobVariables: {
        ...parseJsonObject(deployment.job_variables_json),
        ...parseJsonObject(run.job_variables_json),
      },
    };
    this.log.info(`running ${entrypoint} on node worker ${this.workerName}`);
    const call = Promise.resolve()
      .then(() => handler(parseJsonObject(run.parameters_json), context))
      .then(
        (value) => ({ value }),
        (error) => ({ error }),
      );
    // JavaScript cannot kill a function: a handler that ignores its signal is left behind
    // once the grace period after the abort is over, and its outcome is ignored.
    const abandoned = new Promise((resolve) => {
      const startGrace = () => setTimeout(() => resolve({ abandoned: true }), this.cancelGraceMs).unref();
      if (signal.aborted) startGrace();
      else signal.addEventListener('abort', startGrace, { once: true });
    });
    const outcome = await Promise.race([call, abandoned]);
    if ('error' in outcome && this.stopReason === null) {
      const error = outcome.error;
      this.log.error(`handler failed: ${error instanceof Error && error.stack ? error.stack : describeError(error)}`);
    } else if (outcome.abandoned) {
      this.log.warn(`the handler did not stop within ${this.cancelGraceMs / 1000} s of being aborted`);
    }
    return outcome;
  }

  async settle(outcome) {
    switch (this.stopReason) {
      case StopReason.FORGET:
        say.info(`flow run ${this.id} forgotten: ${this.stopMessage}`);
        return;
      case StopReason.CANCEL:
        await this.reportForced('CANCELLED', 'cancelled by the node worker');
        return;
      case StopReason.SHUTDOWN:
        if (this.started) {
          await this.reportForced('CRASHED', 'the node worker shut down before the run finished');
        } else {
          await this.release('the node worker shut down');
        }
        return;
      default:
        if ('error' in outcome) await this.fail(outcome.error);
        else await this.complete(outcome.value);
    }
  }

  async complete(value) {
    let result;
    try {
      result = inlineResult(value);
    } catch (error) {
      this.log.error(error.message);
      await this.fail(error, 'its result could not be stored:');
      return;
    }
    const answer = await this.finish('COMPLETED', { result });
    await this.followUp(answer);
  }

  async fail(error, why = '') {
    const message = ['the flow run failed:', why, describeError(error)].filter(Boolean).join(' ');
    const answer = await this.finish('FAILED', { message, retriable: true });
    if (typeOf(answer.state) === 'SCHEDULED') {
      // The run's retry policy turned the failure into AwaitingRetry: it goes back to the
      // pool and is assigned again when due.
      const due = timestampMs(answer.state.details?.scheduled_time);
      say.info(`flow run ${this.id} will be retried${due ? ` at ${new Date(due).toISOString()}` : ''}`);
      return;
    }
    await this.followUp(answer);
  }

  /** A cancellation that came while the run was finishing wins over its result. */
  async followUp(answer) {
    const type = typeOf(answer.state);
    if (type === 'CANCELLING') {
      await this.reportForced('CANCELLED', 'cancelled while finishing');
      return;
    }
    say.info(`flow run ${this.id}: ${answer.state.name || type}`);
  }

  /** Ships the run's log lines first, so that whoever sees the final state sees them too. */
  async finish(type, fields, options = {}) {
    await this.logs.flush();
    return this.propose(type, fields, options);
  }

  /**
   * Proposes a state until the server decides: WAIT is obeyed (a fresh transition id each
   * time), transient errors are retried with the same id. Resolves to the orchestration
   * result, or null when `signal` aborted a WAIT.
   */
  async propose(type, { message = '', result = null, retriable = false } = {}, { force = false, signal } = {}) {
    for (;;) {
      const request = {
        flow_run_id: this.id,
        state: {
          type: `STATE_TYPE_${type}`,
          name: titleCase(type),
          message,
          result,
          details: { retriable, lease_id: this.leaseId },
        },
        force,
        transition_id: randomUUID(),
        // The lease fences the whole attempt: every proposal presents it, forced ones too.
        lease_id: this.leaseId,
      };
      const { result: answer } = await this.api.callRetrying(this.api.flowRuns, 'SetFlowRunState', request);
      if (answer.status !== 'ORCHESTRATION_STATUS_WAIT') return answer;
      try {
        await sleep(Math.max(durationSeconds(answer.wait) * 1000, 10), undefined, { signal });
      } catch {
        return null;
      }
    }
  }

  /** The run's current type when it is still this worker's to settle, else null. */
  async heldType() {
    const { flow_run: run } = await this.api.callRetrying(this.api.flowRuns, 'GetFlowRun', { flow_run_id: this.id });
    if (run.attempt > this.assignment.attempt) return null;
    const lease = run.state?.details?.lease_id;
    if (lease && lease !== this.leaseId) return null;
    const type = typeOf(run.state);
    return HELD_TYPES.has(type) ? type : null;
  }

  /** Forces a final state the handler could not report, unless the run moved on without us. */
  async reportForced(type, message) {
    if ((await this.heldType()) === null) return;
    const answer = await this.finish(type, { message }, { force: true });
    say.info(`flow run ${this.id}: ${answer.state.name || typeOf(answer.state)} (${message})`);
  }

  async release(reason) {
    try {
      await this.api.call(this.api.work, 'ReleaseAssignment', {
        flow_run_id: this.id,
        lease_id: this.leaseId,
        reason,
      });
    } catch (error) {
      // The lease expires on its own and the run returns to SCHEDULED anyway.
      say.warn(`could not give back flow run ${this.id}: ${error.details || error.message}`);
    }
  }
}
