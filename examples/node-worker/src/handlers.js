// Finds the JavaScript function a deployment's entrypoint names.
//
// An entrypoint is `<module file>:<exported name>`, the form the server accepts for
// Python's `path.py:func`: `handlers/examples.js:greet` is the export `greet` of that file,
// and `:default` names a default export. The path is absolute or relative to the worker's
// root folder (its working directory unless --root is given).

import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export class HandlerLoadError extends Error {}

/** `{ file, exportName }` for an entrypoint, the file resolved against `root`. */
export function parseEntrypoint(entrypoint, root) {
  const [path, exportName, ...rest] = (entrypoint ?? '').split(':');
  if (!path?.trim() || !exportName || rest.length > 0) {
    throw new HandlerLoadError(`entrypoint '${entrypoint ?? ''}' must look like "path/to/module.js:exportName"`);
  }
  return { file: isAbsolute(path) ? path : resolve(root, path), exportName };
}

/**
 * The function the entrypoint names. Modules are imported once per worker process and
 * then cached by Node: restart the worker to pick up changed handler code.
 */
export async function loadHandler(entrypoint, root) {
  const { file, exportName } = parseEntrypoint(entrypoint, root);
  let module;
  try {
    module = await import(pathToFileURL(file).href);
  } catch (error) {
    throw new HandlerLoadError(`cannot import ${file}: ${error.message}`);
  }
  const handler = module[exportName];
  if (typeof handler !== 'function') {
    const found = handler === undefined ? 'no such export' : `a ${typeof handler}`;
    throw new HandlerLoadError(`'${exportName}' of ${file} is not a function (${found})`);
  }
  return handler;
}
