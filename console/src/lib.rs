//! The govchain web console: pages rendered on the server with Leptos
//! (feature `ssr`, served beside the REST API by [`server::wrap`]) and
//! hydrated in the browser (feature `hydrate`, built for
//! `wasm32-unknown-unknown` by `build.rs` and embedded in the server).
//!
//! The console has no server functions of its own: the browser calls the
//! REST API (`/api/v1/...`) with the session cookie and the CSRF header,
//! so everything the console shows is also in the API.

#![recursion_limit = "256"]

mod admin;
mod alerts;
pub mod api;
mod app;
mod chains;
mod contracts;
mod evidence;
mod explorer;
pub mod i18n;
mod ide;
mod inbox;
mod logs;
mod monitor;
mod parts;
mod requests;
#[cfg(feature = "ssr")]
pub mod server;

pub use app::App;

#[cfg(feature = "hydrate")]
pub use entry::hydrate;

#[cfg(feature = "hydrate")]
#[allow(unsafe_code)] // wasm-bindgen's export glue
mod entry {
    /// Entry point of the browser part: hydrates the server-rendered page,
    /// then marks `<body data-hydrated="true">` (the browser tests wait for
    /// it) with the time since navigation started in `data-hydrated-ms`.
    #[wasm_bindgen::prelude::wasm_bindgen]
    pub fn hydrate() {
        leptos::mount::hydrate_body(super::App);
        let Some(window) = web_sys::window() else { return };
        if let Some(body) = window.document().and_then(|d| d.body()) {
            if let Some(p) = window.performance() {
                let _ = body.set_attribute("data-hydrated-ms", &format!("{:.0}", p.now()));
            }
            let _ = body.set_attribute("data-hydrated", "true");
        }
    }
}
