// A handler's return value as the contract's inline JSON result.
//
// The Python engine keeps small JSON results in the state itself: a ResultRef with
// serializer "json", no storage or key, and the value as JSON text in `inline_value_json`;
// `state.result()` reads that back in any process. This worker has no result storage of its
// own, so every result travels that way, up to INLINE_LIMIT_BYTES of JSON text (the server's
// limit for inline results).

export const INLINE_LIMIT_BYTES = 64 * 1024;

export class ResultError extends Error {}

/**
 * The ResultRef for `value`, after the round trip through JSON that any reader sees:
 * `undefined` becomes null, Dates become strings, functions in objects are dropped.
 * Throws ResultError for values JSON cannot hold (BigInt, cycles) or over the limit.
 */
export function inlineResult(value) {
  let text;
  try {
    text = JSON.stringify(value === undefined ? null : value);
  } catch (error) {
    throw new ResultError(`the result cannot be encoded as JSON: ${error.message}`);
  }
  if (text === undefined) {
    // A bare function or symbol: JSON has no representation for it.
    throw new ResultError(`the result cannot be encoded as JSON: a ${typeof value} has no JSON form`);
  }
  const size = Buffer.byteLength(text);
  if (size > INLINE_LIMIT_BYTES) {
    throw new ResultError(
      `the result is ${size} bytes of JSON, over the ${INLINE_LIMIT_BYTES}-byte limit of inline results`,
    );
  }
  return { storage: '', key: '', serializer: 'json', inline_value_json: text };
}
