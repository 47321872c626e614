// Connection settings from the same RUNPLANE_* variables the Python client reads.

import { readFileSync } from 'node:fs';

const DEFAULT_PORTS = { https: 443, http: 80, grpc: 4200 };

// What `runplane server start` serves when RUNPLANE_API_URL is unset.
export const DEFAULT_API_URL = '127.0.0.1:4200';

/**
 * Reads `host:port` with an optional `http://`, `https://` or `grpc://` scheme, like the
 * Python client: `https` means TLS, and a missing port is 443 for https, 80 for http and
 * 4200 otherwise. Returns `{ target, tls }` where target is what gRPC dials.
 */
export function parseApiUrl(url) {
  let text = url.trim();
  let scheme = 'grpc';
  const separator = text.indexOf('://');
  if (separator >= 0) {
    scheme = text.slice(0, separator).toLowerCase();
    if (!(scheme in DEFAULT_PORTS)) {
      throw new Error(`unsupported scheme '${scheme}' in API URL '${url}'`);
    }
  } else {
    text = `grpc://${text}`;
  }
  let parts;
  try {
    parts = new URL(text);
  } catch {
    throw new Error(`API URL '${url}' must look like host:port or https://host:port`);
  }
  const path = parts.pathname.replace(/^\/+|\/+$/g, '');
  if (!parts.hostname || path || parts.search || parts.hash || parts.username) {
    throw new Error(`API URL '${url}' must look like host:port or https://host:port`);
  }
  // URL leaves the port empty when it is the scheme's default (443 for https, 80 for http).
  const port = parts.port || DEFAULT_PORTS[scheme];
  return { target: `${parts.hostname}:${port}`, tls: scheme === 'https' };
}

function secondsFrom(env, name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`${name} must be a positive number of seconds, not '${raw}'`);
  }
  return value;
}

function fileFrom(env, name) {
  const path = env[name];
  return path ? readFileSync(path) : null;
}

/**
 * The settings in `env`: API endpoint, API key, per-call deadline and TLS files.
 * TLS is used for `https://` URLs or when RUNPLANE_TLS_CA_FILE is set, as in Python.
 */
export function settingsFromEnv(env = process.env) {
  const apiUrl = env.RUNPLANE_API_URL?.trim() || DEFAULT_API_URL;
  const endpoint = parseApiUrl(apiUrl);
  const caFile = fileFrom(env, 'RUNPLANE_TLS_CA_FILE');
  const certFile = fileFrom(env, 'RUNPLANE_TLS_CERT_FILE');
  const keyFile = fileFrom(env, 'RUNPLANE_TLS_KEY_FILE');
  if ((certFile === null) !== (keyFile === null)) {
    throw new Error('RUNPLANE_TLS_CERT_FILE and RUNPLANE_TLS_KEY_FILE must be set together');
  }
  return {
    apiUrl,
    target: endpoint.target,
    tls: endpoint.tls || caFile !== null,
    apiKey: env.RUNPLANE_API_KEY || null,
    requestTimeout: secondsFrom(env, 'RUNPLANE_REQUEST_TIMEOUT', 30),
    tlsFiles: { ca: caFile, cert: certFile, key: keyFile },
  };
}
