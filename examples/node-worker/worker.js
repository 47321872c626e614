#!/usr/bin/env node
// Command line of the runplane Node worker; see README.md.

import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RunplaneApi } from './src/api.js';
import { say } from './src/say.js';
import { settingsFromEnv } from './src/settings.js';
import { Worker, defaultWorkerName } from './src/worker.js';

const HERE = dirname(fileURLToPath(import.meta.url));
// The repository's contract, two folders up from this example.
const DEFAULT_PROTO_ROOT = resolve(HERE, '../../proto');

const USAGE = `usage: node worker.js --pool NAME [options]

Executes the runs of a runplane work pool whose deployments point at JavaScript
functions (entrypoint "path/to/module.js:exportName").

options:
  --pool NAME                work pool to take runs from (required)
  --queue NAME               only this queue of the pool; repeat for several (default: all)
  --limit N                  most runs at once (default: 4)
  --name NAME                stable worker name (default: host-pid)
  --root DIR                 folder relative entrypoints are resolved against (default: .)
  --proto DIR                the contract's .proto files (default: RUNPLANE_PROTO_PATH or ${DEFAULT_PROTO_ROOT})
  --heartbeat-interval SECS  heartbeat at least this often (default: as the server asks)
  --cancel-grace SECS        how long an aborted handler may take to stop (default: 30)
  --shutdown-grace SECS      how long runs may finish after SIGTERM (default: 30)
  -h, --help                 show this text

environment: RUNPLANE_API_URL (host:port, https://host:port; default 127.0.0.1:4200),
RUNPLANE_API_KEY, RUNPLANE_REQUEST_TIMEOUT, RUNPLANE_TLS_CA_FILE, RUNPLANE_TLS_CERT_FILE,
RUNPLANE_TLS_KEY_FILE: the same settings as the Python client.`;

const OPTIONS = {
  pool: { type: 'string' },
  queue: { type: 'string', multiple: true, default: [] },
  limit: { type: 'string', default: '4' },
  name: { type: 'string' },
  root: { type: 'string', default: '.' },
  proto: { type: 'string' },
  'heartbeat-interval': { type: 'string' },
  'cancel-grace': { type: 'string', default: '30' },
  'shutdown-grace': { type: 'string', default: '30' },
  help: { type: 'boolean', short: 'h', default: false },
};

function positiveNumber(values, option) {
  const text = values[option];
  if (text === undefined) return null;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${option} must be a positive number, not '${text}'`);
  return value;
}

function main() {
  const { values } = parseArgs({ options: OPTIONS, strict: true });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.pool) throw new Error('--pool is required (see --help)');
  const settings = settingsFromEnv();
  const protoRoot = resolve(values.proto ?? process.env.RUNPLANE_PROTO_PATH ?? DEFAULT_PROTO_ROOT);
  const api = new RunplaneApi(settings, protoRoot);
  const worker = new Worker({
    api,
    pool: values.pool,
    queues: values.queue,
    limit: positiveNumber(values, 'limit'),
    name: values.name ?? defaultWorkerName(),
    root: resolve(values.root),
    heartbeatSeconds: positiveNumber(values, 'heartbeat-interval'),
    cancelGraceSeconds: positiveNumber(values, 'cancel-grace'),
    shutdownGraceSeconds: positiveNumber(values, 'shutdown-grace'),
  });
  let signals = 0;
  const onSignal = (signal) => {
    signals += 1;
    if (signals > 1) process.exit(130); // asked twice: stop now
    say.info(`received ${signal}: stopping`);
    worker.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  say.info(`node worker ${worker.name} connecting to ${settings.apiUrl} for work pool '${values.pool}'`);
  worker.run().then(
    () => {
      api.close();
      say.info('stopped');
    },
    (error) => {
      api.close();
      say.error(`stopped: ${error.details || error.message}`);
      process.exitCode = 1;
    },
  );
}

try {
  main();
} catch (error) {
  say.error(error.message);
  process.exitCode = 2;
}
