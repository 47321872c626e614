// Conversions between the contract's well-known types and JSON text and plain JavaScript values.

/** A google.protobuf.Timestamp for a time in milliseconds since the epoch. */
export function timestamp(ms = Date.now()) {
  const seconds = Math.floor(ms / 1000);
  return { seconds: String(seconds), nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

/** Seconds in a google.protobuf.Duration, 0 when unset. */
export function durationSeconds(duration) {
  if (!duration) return 0;
  return Number(duration.seconds) + duration.nanos / 1e9;
}

/** Milliseconds since the epoch of a google.protobuf.Timestamp, null when unset. */
export function timestampMs(value) {
  if (!value) return null;
  return Number(value.seconds) * 1000 + value.nanos / 1e6;
}

/**
 * The object in one of the contract's `*_json` fields (JSON text); empty text is `{}`.
 * JSON.parse reads every number as a double: integers beyond 2**53 lose digits here.
 */
export function parseJsonObject(text) {
  return text ? JSON.parse(text) : {};
}
