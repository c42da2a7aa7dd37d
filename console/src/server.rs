//! Serving the console beside the REST API: the pages (rendered by Leptos)
//! and the browser part (`/pkg/console.js`, `/pkg/console_bg.wasm`,
//! bound by `build.rs` and embedded here).

use axum::{
    Router,
    body::Body,
    extract::Request,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};

use crate::{App, i18n::Key};

/// One embedded file of the browser part.
struct Asset {
    raw: &'static [u8],
    gzip: &'static [u8],
    etag: &'static str,
    content_type: &'static str,
}

const JS: Asset = Asset {
    raw: include_bytes!(concat!(env!("OUT_DIR"), "/pkg/console.js")),
    gzip: include_bytes!(concat!(env!("OUT_DIR"), "/pkg/console.js.gz")),
    etag: include_str!(concat!(env!("OUT_DIR"), "/pkg/console.js.etag")),
    content_type: "text/javascript; charset=utf-8",
};

const WASM: Asset = Asset {
    raw: include_bytes!(concat!(env!("OUT_DIR"), "/pkg/console_bg.wasm")),
    gzip: include_bytes!(concat!(env!("OUT_DIR"), "/pkg/console_bg.wasm.gz")),
    etag: include_str!(concat!(env!("OUT_DIR"), "/pkg/console_bg.wasm.etag")),
    content_type: "application/wasm",
};

/// The contract IDE's modules, loaded only on its page: the editor, the
/// compiler worker and the pinned solc-js compiler it loads.
const EDITOR: Asset = Asset {
    raw: include_bytes!(concat!(env!("OUT_DIR"), "/pkg/editor.js")),
    gzip: include_bytes!(concat!(env!("OUT_DIR"), "/pkg/editor.js.gz")),
    etag: include_str!(concat!(env!("OUT_DIR"), "/pkg/editor.js.etag")),
    content_type: "text/javascript; charset=utf-8",
};

const SOLC_WORKER: Asset = Asset {
    raw: include_bytes!(concat!(env!("OUT_DIR"), "/pkg/solc-worker.js")),
    gzip: include_bytes!(concat!(env!("OUT_DIR"), "/pkg/solc-worker.js.gz")),
    etag: include_str!(concat!(env!("OUT_DIR"), "/pkg/solc-worker.js.etag")),
    content_type: "text/javascript; charset=utf-8",
};

const SOLJSON: Asset = Asset {
    raw: include_bytes!(concat!(env!("OUT_DIR"), "/pkg/soljson.js")),
    gzip: include_bytes!(concat!(env!("OUT_DIR"), "/pkg/soljson.js.gz")),
    etag: include_str!(concat!(env!("OUT_DIR"), "/pkg/soljson.js.etag")),
    content_type: "text/javascript; charset=utf-8",
};

/// The policy of the compiler worker, which is its own document: it loads
/// `soljson.js` from here and compiles the compiler's WebAssembly.
const WORKER_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'";

/// Sizes the IDE page adds, raw and gzip-compressed, in bytes: the editor,
/// the worker and the compiler.
pub fn ide_size() -> (usize, usize) {
    [&EDITOR, &SOLC_WORKER, &SOLJSON].iter().fold((0, 0), |(r, g), a| (r + a.raw.len(), g + a.gzip.len()))
}

/// Sizes of the embedded wasm, raw and gzip-compressed, in bytes.
pub fn wasm_size() -> (usize, usize) {
    (WASM.raw.len(), WASM.gzip.len())
}

fn serve(asset: &'static Asset, headers: &HeaderMap) -> Response {
    let etag = HeaderValue::from_static(asset.etag);
    let mut resp = if headers.get(header::IF_NONE_MATCH) == Some(&etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let gzip = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.trim().split(';').next() == Some("gzip")));
        let mut resp = Response::new(Body::from(if gzip { asset.gzip } else { asset.raw }));
        if gzip {
            resp.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
        resp
    };
    let h = resp.headers_mut();
    h.insert(header::ETAG, etag);
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    // Same names on every build: the browser revalidates (a 304 when unchanged).
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// The HTML document around every page. Its inline script and style carry
/// this response's nonce, which the Content-Security-Policy header names.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let lang = crate::api::current_lang();
    let nonce = leptos::nonce::use_nonce();
    if let (Some(n), Some(resp)) = (&nonce, use_context::<leptos_axum::ResponseOptions>()) {
        let csp = format!(
            "default-src 'self'; script-src 'self' 'nonce-{n}' 'wasm-unsafe-eval'; style-src 'self' 'nonce-{n}'; \
             img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        );
        if let Ok(v) = HeaderValue::from_str(&csp) {
            resp.insert_header(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    view! {
        <!DOCTYPE html>
        <html lang=lang.tag()>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <title>{lang.t(Key::Product)}</title>
                <style nonce=nonce>{include_str!("style.css")}</style>
                <HydrationScripts options/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Headers of the console's pages and files: no framing, no sniffing, and
/// (unless the page set its own, with its nonce) nothing inline.
async fn page_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'; base-uri 'none'"),
        );
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// The console around `api`: the console's pages and files are answered
/// here, every other path (the REST API, `/healthz`, unknown paths) goes on
/// to `api` unchanged.
pub fn wrap(api: Router) -> Router {
    // Rendering spawns tasks on Leptos's executor; here it is tokio's (an
    // error means it was set already).
    let _ = any_spawner::Executor::init_tokio();
    let options = LeptosOptions::builder().output_name("console").site_pkg_dir("pkg").build();
    let routes = generate_route_list(App);
    let shell_options = options.clone();
    // Any other path: a browser asking for a page gets the console's "not
    // found" page (status 404); everything else goes to the API, whose
    // unknown paths answer `{code, message}`.
    let not_found = leptos_axum::render_app_to_stream_with_context(
        {
            let o = options.clone();
            move || provide_context(o.clone())
        },
        {
            let o = options.clone();
            move || shell(o.clone())
        },
    );
    let fallback = move |req: Request| {
        let (mut api, not_found) = (api.clone(), not_found.clone());
        async move {
            if wants_page(&req) {
                let mut resp = not_found(req).await;
                let h = resp.headers_mut();
                for (name, value) in [
                    ("x-frame-options", "DENY"),
                    ("x-content-type-options", "nosniff"),
                    ("referrer-policy", "no-referrer"),
                    ("cache-control", "no-store"),
                ] {
                    h.insert(name, HeaderValue::from_static(value));
                }
                resp
            } else {
                match tower_service::Service::call(&mut api, req).await {
                    Ok(resp) => resp,
                    Err(never) => match never {},
                }
            }
        }
    };
    Router::new()
        .leptos_routes(&options, routes, move || shell(shell_options.clone()))
        .route("/pkg/console.js", get(|h: HeaderMap| async move { serve(&JS, &h) }))
        .route("/pkg/console_bg.wasm", get(|h: HeaderMap| async move { serve(&WASM, &h) }))
        .route("/pkg/editor.js", get(|h: HeaderMap| async move { serve(&EDITOR, &h) }))
        .route(
            "/pkg/solc-worker.js",
            get(|h: HeaderMap| async move {
                let mut resp = serve(&SOLC_WORKER, &h);
                resp.headers_mut()
                    .insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(WORKER_CSP));
                resp
            }),
        )
        .route("/pkg/soljson.js", get(|h: HeaderMap| async move { serve(&SOLJSON, &h) }))
        .layer(middleware::from_fn(page_headers))
        .with_state(options)
        .fallback(fallback)
}

/// A browser's request for a page: a GET outside the API that accepts HTML.
fn wants_page(req: &Request) -> bool {
    let path = req.uri().path();
    req.method() == axum::http::Method::GET
        && !path.starts_with("/api/")
        && path != "/healthz"
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
}
