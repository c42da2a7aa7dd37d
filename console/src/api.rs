//! Calls to the REST API from the browser (same origin, the session
//! cookie, the CSRF header on state-changing requests). On the server these
//! are never called: pages fetch in the browser only.

use serde_json::Value;

/// An API error: the HTTP status and the `{code, message}` body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiErr {
    /// HTTP status (0: the request did not reach the server).
    pub status: u16,
    /// The error code (`unauthorized`, `session_expired`, `conflict`, ...).
    pub code: String,
    /// The server's message (English; shown only where no translation
    /// exists, in a detail element).
    pub message: String,
    /// The field the refusal concerns (`details.field`), when it says.
    pub field: Option<String>,
    /// Which of an operation's refusals this is (`details.reason`), when
    /// one status covers several.
    pub reason: Option<String>,
}

impl ApiErr {
    /// Whether the caller must sign in (again).
    pub fn signed_out(&self) -> bool {
        self.status == 401
    }
}

/// `GET path`.
pub async fn get(path: &str) -> Result<Value, ApiErr> {
    call("GET", path, None, None).await
}

/// `GET path`, for a path built on the spot.
pub async fn get_owned(path: String) -> Result<Value, ApiErr> {
    call("GET", &path, None, None).await
}

/// `POST path` with a JSON body and the session's CSRF token.
pub async fn post(path: &str, body: &Value, csrf: Option<&str>) -> Result<Value, ApiErr> {
    call("POST", path, Some(body), csrf).await
}

/// `PUT path` with a JSON body and the session's CSRF token.
pub async fn put(path: &str, body: &Value, csrf: Option<&str>) -> Result<Value, ApiErr> {
    call("PUT", path, Some(body), csrf).await
}

/// `DELETE path` with the session's CSRF token.
pub async fn delete(path: &str, csrf: Option<&str>) -> Result<Value, ApiErr> {
    call("DELETE", path, None, csrf).await
}

#[cfg(feature = "hydrate")]
async fn call(method: &str, path: &str, body: Option<&Value>, csrf: Option<&str>) -> Result<Value, ApiErr> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    let net =
        |_| ApiErr { status: 0, code: "network".into(), message: String::new(), field: None, reason: None };
    let window = web_sys::window().ok_or_else(|| net(()))?;
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_credentials(web_sys::RequestCredentials::SameOrigin);
    let headers = web_sys::Headers::new().map_err(|_| net(()))?;
    headers.set("accept", "application/json").map_err(|_| net(()))?;
    if let Some(b) = body {
        headers.set("content-type", "application/json").map_err(|_| net(()))?;
        init.set_body(&wasm_bindgen::JsValue::from_str(&b.to_string()));
    }
    if let Some(c) = csrf {
        headers.set("x-csrf-token", c).map_err(|_| net(()))?;
    }
    init.set_headers(&headers);
    let req = web_sys::Request::new_with_str_and_init(path, &init).map_err(|_| net(()))?;
    let resp: web_sys::Response = JsFuture::from(window.fetch_with_request(&req))
        .await
        .map_err(|_| net(()))?
        .dyn_into()
        .map_err(|_| net(()))?;
    let status = resp.status();
    let text = JsFuture::from(resp.text().map_err(|_| net(()))?).await.map_err(|_| net(()))?;
    let text = text.as_string().unwrap_or_default();
    let v: Value =
        if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) };
    if resp.ok() {
        Ok(v)
    } else {
        Err(ApiErr {
            status,
            code: v["code"].as_str().unwrap_or("error").to_owned(),
            message: v["message"].as_str().unwrap_or_default().to_owned(),
            field: v["details"]["field"].as_str().map(str::to_owned),
            reason: v["details"]["reason"].as_str().map(str::to_owned),
        })
    }
}

#[cfg(not(feature = "hydrate"))]
async fn call(_: &str, _: &str, _: Option<&Value>, _: Option<&str>) -> Result<Value, ApiErr> {
    Err(ApiErr {
        status: 0,
        code: "network".into(),
        message: "only the browser calls the API".into(),
        field: None,
        reason: None,
    })
}

/// A full page load of `href` (after signing in or out, or switching the
/// language: every part of the page starts again from the server).
pub fn go(href: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(w) = web_sys::window() {
        let _ = w.location().set_href(href);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = href;
}

/// Keeps the language in its cookie and reloads the page in it.
pub fn set_lang(lang: crate::i18n::Lang) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        if let Some(doc) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.dyn_into::<web_sys::HtmlDocument>().ok())
        {
            let _ = doc.set_cookie(&format!(
                "{}={}; Path=/; Max-Age=31536000; SameSite=Strict",
                crate::i18n::LANG_COOKIE,
                lang.code()
            ));
        }
        if let Some(w) = web_sys::window() {
            let _ = w.location().reload();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = lang;
}

/// The name and bytes of the file chosen in the `<input type="file">`
/// with id `input_id`, read in the browser (it goes nowhere else); `None`
/// when none is chosen. On the server: `None`.
pub async fn read_file(input_id: &str) -> Option<(String, Vec<u8>)> {
    read_files(input_id).await.into_iter().next()
}

/// The names and bytes of every file chosen in the `<input type="file">`
/// with id `input_id`, read in the browser. On the server: none.
pub async fn read_files(input_id: &str) -> Vec<(String, Vec<u8>)> {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let mut out = Vec::new();
        let Some(files) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(input_id))
            .and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok())
            .and_then(|i| i.files())
        else {
            return out;
        };
        for i in 0..files.length() {
            let Some(file) = files.get(i) else { continue };
            if let Ok(buf) = wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await {
                out.push((file.name(), js_sys::Uint8Array::new(&buf).to_vec()));
            }
        }
        out
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = input_id;
        Vec::new()
    }
}

/// Copies text to the clipboard.
pub fn copy(text: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(w) = web_sys::window() {
        let _ = w.navigator().clipboard().write_text(text);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = text;
}

/// The language of this page: the cookie of the request on the server,
/// `document.cookie` in the browser (the same cookie, so hydration sees
/// what the server rendered).
pub fn current_lang() -> crate::i18n::Lang {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.dyn_into::<web_sys::HtmlDocument>().ok())
            .and_then(|d| d.cookie().ok())
            .map_or_else(Default::default, |c| crate::i18n::Lang::from_cookies(&c))
    }
    #[cfg(all(feature = "ssr", not(feature = "hydrate")))]
    {
        leptos::prelude::use_context::<axum::http::request::Parts>()
            .map(|p| {
                p.headers
                    .get_all(axum::http::header::COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .map(crate::i18n::Lang::from_cookies)
                    .find(|l| *l == crate::i18n::Lang::En)
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    crate::i18n::Lang::default()
}

/// Calls `f` with the data of every event the Server-Sent Events stream at
/// `path` sends while the current page part lives (the stream closes with
/// it). On the server: nothing.
pub fn subscribe(path: &str, f: impl Fn(String) + 'static) {
    subscribe_to(path, "message", f);
}

/// [`subscribe`] for the events named `event` (the stream's `event:` field).
pub fn subscribe_to(path: &str, event: &str, f: impl Fn(String) + 'static) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::{JsCast, closure::Closure};
        let Ok(source) = web_sys::EventSource::new(path) else { return };
        let on_event = Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            f(e.data().as_string().unwrap_or_default());
        });
        let _ = source.add_event_listener_with_callback(event, on_event.as_ref().unchecked_ref());
        let held = send_wrapper::SendWrapper::new((source, on_event));
        leptos::prelude::on_cleanup(move || held.0.close());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (path, event, f);
}

/// Now, ms since 1970: the browser's clock, or the server's.
pub fn now_ms() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// Calls `f` every `ms` milliseconds while the current page part lives.
/// On the server: nothing.
pub fn every(ms: u64, f: impl Fn() + 'static) {
    #[cfg(feature = "hydrate")]
    {
        if let Ok(h) = leptos::prelude::set_interval_with_handle(f, std::time::Duration::from_millis(ms)) {
            leptos::prelude::on_cleanup(move || h.clear());
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (ms, f);
}
