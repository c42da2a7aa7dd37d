// The pinned solc-js compiler in a web worker: `soljson.js` (the
// Emscripten build inside the npm `solc` package, the same one the
// platform's toolchain runs) is loaded beside this file. Messages in:
// `{id, input}` (standard-JSON text); out: `{id, version, output}` or
// `{id, error}`. Imports resolve only from the given sources.
/* global importScripts, Module */
'use strict';
importScripts('soljson.js');

let compile = null;
let version = '';

function compiler() {
  if (!compile) {
    compile = Module.cwrap('solidity_compile', 'string', ['string', 'number', 'number']);
    version = Module.cwrap('solidity_version', 'string', [])();
  }
  return compile;
}

self.onmessage = (e) => {
  const { id, input } = e.data;
  try {
    const output = compiler()(input, 0, 0);
    try {
      Module.cwrap('solidity_reset', null, [])();
    } catch (_) {
      // Older compilers have no reset; nothing to free then.
    }
    self.postMessage({ id, version, output });
  } catch (err) {
    self.postMessage({ id, error: 'the compiler failed: ' + (err && err.message ? err.message : String(err)) });
  }
};
