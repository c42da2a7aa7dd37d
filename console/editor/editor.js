// The contract IDE's editor, loaded only on the IDE page: CodeMirror 6 with
// Solidity highlighting and lint markers, and the pinned solc-js compiler
// running in a web worker (`solc-worker.js`, which loads the same
// `soljson.js` as the platform's toolchain). The page's wasm reaches it
// through `window.govEditor`.
import { basicSetup } from 'codemirror';
import { EditorView } from '@codemirror/view';
import { EditorState } from '@codemirror/state';
import { setDiagnostics, lintGutter, forEachDiagnostic } from '@codemirror/lint';
import { solidity } from '@replit/codemirror-lang-solidity';

// Place of a (line, column) given in characters (Unicode scalar values),
// both from 1, as a CodeMirror position (UTF-16 code units).
function place(doc, line, column) {
  const n = Math.min(Math.max(1, line | 0), doc.lines);
  const l = doc.line(n);
  let units = 0;
  let chars = 1;
  for (const ch of l.text) {
    if (chars >= column) break;
    units += ch.length;
    chars += 1;
  }
  return l.from + units;
}

let worker = null;
let nextId = 1;
const waiting = new Map();

function compilerWorker() {
  if (worker) return worker;
  const base = new URL('.', import.meta.url);
  worker = new Worker(new URL('solc-worker.js', base));
  worker.onmessage = (e) => {
    const w = waiting.get(e.data.id);
    if (!w) return;
    waiting.delete(e.data.id);
    if (e.data.error) w.reject(new Error(e.data.error));
    else w.resolve(e.data);
  };
  worker.onerror = (e) => {
    for (const w of waiting.values()) w.reject(new Error(e.message || 'the compiler failed to load'));
    waiting.clear();
    worker = null;
  };
  return worker;
}

// The page's Content-Security-Policy admits styles with its nonce only:
// the editor's own style element carries it.
function pageNonce() {
  const el = document.querySelector('style[nonce], script[nonce]');
  return el ? el.nonce : '';
}

window.govEditor = {
  // A new editor in `el` holding `doc`; `onChange(text)` after each edit.
  create(el, doc, onChange) {
    const view = new EditorView({
      parent: el,
      state: EditorState.create({
        doc,
        extensions: [
          EditorView.cspNonce.of(pageNonce()),
          basicSetup,
          solidity,
          lintGutter(),
          EditorView.updateListener.of((u) => {
            if (u.docChanged && onChange) onChange(u.state.doc.toString());
          }),
        ],
      }),
    });
    return view;
  },
  getValue(view) {
    return view.state.doc.toString();
  },
  setValue(view, text) {
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
  },
  // Markers: `[{line, column, endLine, endColumn, severity, message}]`,
  // places in characters from 1; severity `error`, `warning` or `info`.
  setDiagnostics(view, list) {
    const doc = view.state.doc;
    const diagnostics = [];
    for (const d of list) {
      const from = place(doc, d.line, d.column || 1);
      let to = d.endLine ? place(doc, d.endLine, d.endColumn || 1) : from;
      if (to <= from) to = Math.min(doc.length, from + 1);
      const severity = d.severity === 'error' ? 'error' : d.severity === 'warning' ? 'warning' : 'info';
      diagnostics.push({ from, to, severity, message: d.message });
    }
    view.dispatch(setDiagnostics(view.state, diagnostics));
  },
  // The markers shown, as `[{line, severity, message}]` (for tests and
  // the page's list).
  diagnostics(view) {
    const out = [];
    forEachDiagnostic(view.state, (d, from) => {
      out.push({ line: view.state.doc.lineAt(from).number, severity: d.severity, message: d.message });
    });
    return out;
  },
  // Moves the cursor to a line and shows it.
  gotoLine(view, line) {
    const doc = view.state.doc;
    const l = doc.line(Math.min(Math.max(1, line | 0), doc.lines));
    view.dispatch({ selection: { anchor: l.from }, effects: EditorView.scrollIntoView(l.from, { y: 'center' }) });
    view.focus();
  },
  // Compiles a standard-JSON input in the worker: resolves to
  // `{version, output}` (the output as solc's JSON text).
  compile(input) {
    return new Promise((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      compilerWorker().postMessage({ id, input: typeof input === 'string' ? input : JSON.stringify(input) });
    });
  },
};
window.dispatchEvent(new Event('goveditor-ready'));
