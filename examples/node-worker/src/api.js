// The runplane API over gRPC: the contract's .proto files loaded at run time, one channel,
// the API key on every call, retries of UNAVAILABLE, and promise-returning unary calls.

import { setTimeout as sleep } from 'node:timers/promises';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const PROTO_FILES = ['runplane/v1/work.proto', 'runplane/v1/flow_runs.proto', 'runplane/v1/logs.proto'];

// Field names as in the .proto files, enums as their names, 64-bit integers as strings,
// every field present, and a oneof's chosen field named by a virtual field (e.g. `item`).
const LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

// gRPC retries UNAVAILABLE itself, as the Python client does. State-changing calls carry
// client-generated ids, so a retried call never applies twice.
const SERVICE_CONFIG = {
  methodConfig: [
    {
      name: ['WorkService', 'FlowRunService', 'LogService'].map((s) => ({ service: `runplane.v1.${s}` })),
      retryPolicy: {
        maxAttempts: 5,
        initialBackoff: '0.1s',
        maxBackoff: '5s',
        backoffMultiplier: 2,
        retryableStatusCodes: ['UNAVAILABLE'],
      },
    },
  ],
};

const CHANNEL_OPTIONS = {
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  // The server accepts client pings every 10 s or more; 30 s keeps idle streams alive
  // through proxies without risking a GOAWAY for pinging too often.
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.service_config': JSON.stringify(SERVICE_CONFIG),
};

// Errors after which the same call, or a new subscription, may succeed.
export const TRANSIENT_CODES = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.ABORTED,
  grpc.status.INTERNAL,
  grpc.status.UNKNOWN,
]);

export function isTransient(error) {
  return error !== null && typeof error === 'object' && TRANSIENT_CODES.has(error.code);
}

function bearerToken(apiKey) {
  const value = `Bearer ${apiKey}`;
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set('authorization', value);
        next(metadata, listener);
      },
    });
}

function credentials(settings) {
  if (!settings.tls) return grpc.credentials.createInsecure();
  const { ca, key, cert } = settings.tlsFiles;
  return grpc.credentials.createSsl(ca, key, cert);
}

/** The runplane package's message and service constructors, from the .proto files under `protoRoot`. */
export function loadContract(protoRoot) {
  const definition = protoLoader.loadSync(PROTO_FILES, { ...LOADER_OPTIONS, includeDirs: [protoRoot] });
  return grpc.loadPackageDefinition(definition).runplane.v1;
}

/** Clients of the services the worker uses, sharing one channel. */
export class RunplaneApi {
  constructor(settings, protoRoot) {
    const v1 = loadContract(protoRoot);
    this.timeoutMs = settings.requestTimeout * 1000;
    const channelCredentials = credentials(settings);
    this.channel = new grpc.Channel(settings.target, channelCredentials, CHANNEL_OPTIONS);
    const options = {
      channelOverride: this.channel,
      interceptors: settings.apiKey ? [bearerToken(settings.apiKey)] : [],
    };
    this.work = new v1.WorkService(settings.target, channelCredentials, options);
    this.flowRuns = new v1.FlowRunService(settings.target, channelCredentials, options);
    this.logs = new v1.LogService(settings.target, channelCredentials, options);
  }

  /** Calls a unary method with the per-call deadline; resolves to the response. */
  call(client, method, request) {
    const deadline = new Date(Date.now() + this.timeoutMs);
    return new Promise((resolve, reject) => {
      client[method](request, { deadline }, (error, response) => (error ? reject(error) : resolve(response)));
    });
  }

  /**
   * Calls again with the same request after a transient error, a few times with backoff.
   * Safe for state proposals because the request keeps its transition id.
   */
  async callRetrying(client, method, request, attempts = 4) {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.call(client, method, request);
      } catch (error) {
        if (!isTransient(error) || attempt + 1 >= attempts) throw error;
        await sleep(500 * 2 ** attempt);
      }
    }
  }

  subscribeWork(request) {
    return this.work.SubscribeWork(request);
  }

  close() {
    this.channel.close();
  }
}
