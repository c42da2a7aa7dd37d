// Runs the pinned solc-js compiler on one standard-JSON input.
//
// Usage: node compile.js <dir holding node_modules/solc>
//   stdin:  the standard-JSON input (sources given inline as `content`)
//   stdout: {"version": "<solc version>", "output": <standard-JSON output>}
//
// Nothing is downloaded: the compiler is the soljson.js inside the npm
// package (never `loadRemoteVersion`), and an import that is not among the
// given sources is refused by the import callback.
'use strict';

const path = require('path');

function fail(message) {
  process.stderr.write(message + '\n');
  process.exit(2);
}

// The last argument, whether run as a file or with `node -e`.
const dir = process.argv[process.argv.length - 1];

let solc;
try {
  solc = require(path.join(path.resolve(dir), 'node_modules', 'solc'));
} catch (e) {
  fail('cannot load solc from ' + dir + '/node_modules/solc: ' + e.message);
}

const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', () => {
  const input = Buffer.concat(chunks).toString('utf8');
  const refuse = (name) => ({
    error: 'import "' + name + '" is not among the given sources (imports resolve only from them)',
  });
  const output = solc.compile(input, { import: refuse });
  process.stdout.write('{"version":' + JSON.stringify(solc.version()) + ',"output":' + output + '}');
});
