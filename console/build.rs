//! With the `ssr` feature: builds the console's browser part (this crate
//! with `hydrate`, for wasm32-unknown-unknown, in its own target directory
//! `<target>/console-wasm` so the outer build's lock is not contended), binds it
//! with wasm-bindgen (the library, at the version Cargo.lock pins) and
//! leaves `console.js` and `console_bg.wasm` (raw and gzip) in `OUT_DIR`
//! for the server to embed. Runs again only when the console's sources,
//! its manifest or Cargo.lock change; the nested cargo then rebuilds only
//! what changed.

fn main() {
    #[cfg(feature = "ssr")]
    if let Err(e) = browser::build() {
        println!("cargo::error=building the console's browser part: {e}");
        std::process::exit(1);
    }
}

#[cfg(feature = "ssr")]
mod browser {
    use std::{
        env,
        hash::{DefaultHasher, Hasher},
        io::Write,
        path::{Path, PathBuf},
        process::Command,
    };

    type Error = Box<dyn std::error::Error>;

    const TARGET: &str = "wasm32-unknown-unknown";
    const PROFILE: &str = "wasm-release";

    pub fn build() -> Result<(), Error> {
        let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
        let out_dir = PathBuf::from(env::var("OUT_DIR")?);
        println!("cargo::rerun-if-changed=src");
        println!("cargo::rerun-if-changed=Cargo.toml");
        println!("cargo::rerun-if-changed=build.rs");
        println!("cargo::rerun-if-changed=../Cargo.lock");
        println!("cargo::rerun-if-changed=../Cargo.toml");
        let target_dir = main_target_dir(&out_dir).join("console-wasm");
        let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["rustc", "--lib", "--crate-type", "cdylib", "--target", TARGET, "--profile", PROFILE])
            .args(["--no-default-features", "--features", "hydrate"])
            .arg("--manifest-path")
            .arg(manifest_dir.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir);
        // What the outer cargo sets for its own host compilation (flags,
        // clippy's wrapper, its target directory) is not for this build.
        for var in [
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTFLAGS",
            "CARGO_BUILD_RUSTFLAGS",
            "RUSTC_WORKSPACE_WRAPPER",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET_DIR",
            "CARGO_BUILD_TARGET",
            "CARGO_LLVM_COV",
            "CARGO_PRIMARY_PACKAGE",
        ] {
            cmd.env_remove(var);
        }
        let out = cmd.output()?;
        if !out.status.success() {
            return Err(format!(
                "`cargo rustc --target {TARGET}` failed ({}); is the target installed \
                 (rust-toolchain.toml lists it)?\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        let wasm = target_dir.join(TARGET).join(PROFILE).join("govchain_console.wasm");
        let pkg = out_dir.join("pkg");
        std::fs::create_dir_all(&pkg)?;
        wasm_bindgen_cli_support::Bindgen::new()
            .input_path(&wasm)
            .web(true)?
            .typescript(false)
            // Function names and the toolchain's producer notes are for
            // debuggers; the browser downloads neither.
            .remove_name_section(true)
            .remove_producers_section(true)
            .out_name("console")
            .generate(&pkg)?;
        for name in ["console.js", "console_bg.wasm"] {
            let raw = std::fs::read(pkg.join(name))?;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            gz.write_all(&raw)?;
            std::fs::write(pkg.join(format!("{name}.gz")), gz.finish()?)?;
            let mut h = DefaultHasher::new();
            h.write(&raw);
            std::fs::write(pkg.join(format!("{name}.etag")), format!("\"{:016x}\"", h.finish()))?;
        }
        Ok(())
    }

    /// The target directory of the outer build: `OUT_DIR` is
    /// `<target>[/<triple>]/<profile>/build/<pkg>-<hash>/out`.
    fn main_target_dir(out_dir: &Path) -> PathBuf {
        if let Some(dir) = env::var_os("CARGO_TARGET_DIR") {
            return PathBuf::from(dir);
        }
        let profile_dir = out_dir.ancestors().nth(3).unwrap_or(out_dir);
        let up = profile_dir.parent().unwrap_or(profile_dir);
        // With `--target <triple>` there is one more level.
        let triple = env::var("TARGET").unwrap_or_default();
        if up.file_name().is_some_and(|n| n.to_string_lossy() == triple) {
            up.parent().unwrap_or(up).to_path_buf()
        } else {
            up.to_path_buf()
        }
    }
}
