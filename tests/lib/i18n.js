// The console's two translation tables, read from console/src/i18n.rs, so
// the language journey can tell a string of the other language on a page.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repo } from './harness.js';

function table(src, fn) {
  const start = src.indexOf(`pub fn ${fn}(key: Key)`);
  if (start < 0) throw new Error(`no table ${fn} in i18n.rs`);
  const body = src.slice(start, src.indexOf('\n}\n', start));
  const out = new Map();
  // `Key => "text",` or, where rustfmt wrapped it, `Key => {\n "text"\n }`.
  for (const m of body.matchAll(/^\s*(\w+) =>\s*(?:\{\s*)?"((?:[^"\\]|\\.)*)"/gm)) out.set(m[1], m[2]);
  return out;
}

const src = readFileSync(join(repo, 'console', 'src', 'i18n.rs'), 'utf8');
export const zh = table(src, 'zh');
export const en = table(src, 'en');
