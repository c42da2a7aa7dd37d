//! The bridge to the IDE's browser modules (`console/editor`): the
//! CodeMirror editor and the solc-js worker, loaded by this page only
//! through `/pkg/editor.js`, which sets `window.govEditor`. On the server
//! every function does nothing: the page renders a plain text area there.

#[cfg(feature = "hydrate")]
mod browser {
    use std::cell::RefCell;

    use wasm_bindgen::{JsCast, JsValue, closure::Closure};
    use wasm_bindgen_futures::JsFuture;

    /// An editor and its change handler, which must live as long as it does.
    type Mounted = (JsValue, Closure<dyn Fn(JsValue)>);

    thread_local! {
        /// The page's editor (one per page).
        static EDITOR: RefCell<Option<Mounted>> = const { RefCell::new(None) };
    }

    fn api() -> Option<JsValue> {
        let w = web_sys::window()?;
        js_sys::Reflect::get(&w, &"govEditor".into()).ok().filter(|v| v.is_object())
    }

    fn call(name: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
        let api = api().ok_or_else(|| JsValue::from_str("the editor is not loaded"))?;
        let f: js_sys::Function = js_sys::Reflect::get(&api, &name.into())?.dyn_into()?;
        let list = js_sys::Array::new();
        for a in args {
            list.push(a);
        }
        f.apply(&api, &list)
    }

    fn view() -> Option<JsValue> {
        EDITOR.with(|e| e.borrow().as_ref().map(|(v, _)| v.clone()))
    }

    pub fn load(then: impl FnOnce() + 'static) {
        if api().is_some() {
            then();
            return;
        }
        let Some(w) = web_sys::window() else { return };
        let opts = web_sys::AddEventListenerOptions::new();
        opts.set_once(true);
        let cb = Closure::once_into_js(then);
        let _ = w.add_event_listener_with_callback_and_add_event_listener_options(
            "goveditor-ready",
            cb.unchecked_ref(),
            &opts,
        );
        let Some(doc) = w.document() else { return };
        if doc.get_element_by_id("goveditor-script").is_some() {
            return;
        }
        if let (Ok(s), Some(head)) = (doc.create_element("script"), doc.head()) {
            let _ = s.set_attribute("id", "goveditor-script");
            let _ = s.set_attribute("type", "module");
            let _ = s.set_attribute("src", "/pkg/editor.js");
            let _ = head.append_child(&s);
        }
    }

    pub fn mount(el: &web_sys::HtmlElement, text: &str, on_change: impl Fn(String) + 'static) {
        let cb =
            Closure::<dyn Fn(JsValue)>::new(move |v: JsValue| on_change(v.as_string().unwrap_or_default()));
        if let Ok(v) = call("create", &[el.clone().into(), text.into(), cb.as_ref().clone()]) {
            EDITOR.with(|e| *e.borrow_mut() = Some((v, cb)));
        }
    }

    pub fn unmount() {
        EDITOR.with(|e| *e.borrow_mut() = None);
    }

    pub fn set_value(text: &str) {
        if let Some(v) = view() {
            let _ = call("setValue", &[v, text.into()]);
        }
    }

    pub fn set_diagnostics(list: &serde_json::Value) {
        if let (Some(v), Ok(list)) = (view(), js_sys::JSON::parse(&list.to_string())) {
            let _ = call("setDiagnostics", &[v, list]);
        }
    }

    pub fn goto_line(line: u64) {
        if let Some(v) = view() {
            let _ = call("gotoLine", &[v, JsValue::from_f64(line as f64)]);
        }
    }

    pub async fn compile(input: String) -> Result<(String, String), String> {
        let promise: js_sys::Promise = call("compile", &[input.into()])
            .and_then(|p| p.dyn_into())
            .map_err(|e| e.as_string().unwrap_or_else(|| "the compiler is not loaded".into()))?;
        let done = JsFuture::from(promise).await.map_err(|e| {
            js_sys::Reflect::get(&e, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
                .unwrap_or_else(|| "the compiler failed".into())
        })?;
        let get = |k: &str| js_sys::Reflect::get(&done, &k.into()).ok().and_then(|v| v.as_string());
        Ok((get("version").unwrap_or_default(), get("output").unwrap_or_default()))
    }
}

#[cfg(feature = "hydrate")]
pub use browser::*;

#[cfg(not(feature = "hydrate"))]
mod server {
    pub fn unmount() {}
    pub fn set_value(_text: &str) {}
    pub fn set_diagnostics(_list: &serde_json::Value) {}
    pub fn goto_line(_line: u64) {}
    pub async fn compile(_input: String) -> Result<(String, String), String> {
        Err("only the browser compiles".into())
    }
}

#[cfg(not(feature = "hydrate"))]
pub use server::*;
