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
        super::editor::build(&manifest_dir.join("editor"), &out_dir)?;
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
            compress(&pkg, name)?;
        }
        Ok(())
    }

    /// Leaves `<name>.gz` and `<name>.etag` beside `pkg/<name>`.
    pub(super) fn compress(pkg: &Path, name: &str) -> Result<(), Error> {
        let raw = std::fs::read(pkg.join(name))?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&raw)?;
        std::fs::write(pkg.join(format!("{name}.gz")), gz.finish()?)?;
        let mut h = DefaultHasher::new();
        h.write(&raw);
        std::fs::write(pkg.join(format!("{name}.etag")), format!("\"{:016x}\"", h.finish()))?;
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

/// The contract IDE's browser modules (`editor/`): `npm ci` of the pinned
/// packages in `OUT_DIR/editor`, then esbuild bundles the CodeMirror editor
/// and the compiler worker into `OUT_DIR/pkg`, beside the solc-js compiler
/// (`soljson.js`) of the same version the platform's toolchain pins
/// (`contracts/js/package.json`; a different pin fails the build).
#[cfg(feature = "ssr")]
mod editor {
    use std::{
        fs,
        hash::{DefaultHasher, Hasher},
        path::Path,
        process::Command,
    };

    use super::browser::compress;

    type Error = Box<dyn std::error::Error>;

    const FILES: [&str; 4] = ["package.json", "package-lock.json", "editor.js", "solc-worker.js"];

    pub fn build(src: &Path, out_dir: &Path) -> Result<(), Error> {
        for f in FILES {
            println!("cargo::rerun-if-changed=editor/{f}");
        }
        let toolchain = src.join("../../contracts/js/package.json");
        println!("cargo::rerun-if-changed=../contracts/js/package.json");
        let (ours, theirs) = (solc_pin(&src.join("package.json"))?, solc_pin(&toolchain)?);
        if ours != theirs {
            return Err(format!(
                "console/editor pins solc {ours} but the platform's toolchain (contracts/js) pins {theirs}: \
                 the browser must compile with the same version"
            )
            .into());
        }
        let work = out_dir.join("editor");
        fs::create_dir_all(&work)?;
        for f in FILES {
            fs::copy(src.join(f), work.join(f))?;
        }
        // `npm ci` again only when the lock file changed.
        let lock = fs::read(src.join("package-lock.json"))?;
        let mut h = DefaultHasher::new();
        h.write(&lock);
        let stamp = format!("{:016x}", h.finish());
        let stamp_file = work.join("node_modules/.govchain-lock");
        if fs::read_to_string(&stamp_file).ok().as_deref() != Some(stamp.as_str()) {
            run(
                Command::new(npm())
                    .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                    .current_dir(&work),
                "npm ci",
            )?;
            fs::write(&stamp_file, &stamp)?;
        }
        let pkg = out_dir.join("pkg");
        fs::create_dir_all(&pkg)?;
        // A native binary (or a node script on some platforms): run as is.
        let esbuild = work.join("node_modules/.bin/esbuild");
        run(
            Command::new(&esbuild)
                .args(["editor.js", "--bundle", "--minify", "--format=esm", "--log-level=warning"])
                .arg(format!("--outfile={}", pkg.join("editor.js").display()))
                .current_dir(&work),
            "esbuild editor.js",
        )?;
        run(
            Command::new(&esbuild)
                .args(["solc-worker.js", "--minify", "--log-level=warning"])
                .arg(format!("--outfile={}", pkg.join("solc-worker.js").display()))
                .current_dir(&work),
            "esbuild solc-worker.js",
        )?;
        fs::copy(work.join("node_modules/solc/soljson.js"), pkg.join("soljson.js"))?;
        for name in ["editor.js", "solc-worker.js", "soljson.js"] {
            compress(&pkg, name)?;
        }
        Ok(())
    }

    /// The `solc` version a package.json names (`"solc": "<version>"`).
    fn solc_pin(path: &Path) -> Result<String, Error> {
        let text = fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        text.split_once("\"solc\"")
            .and_then(|(_, rest)| rest.split('"').nth(1))
            .map(str::to_owned)
            .ok_or_else(|| format!("{} names no solc dependency", path.display()).into())
    }

    fn npm() -> String {
        std::env::var("GOVCHAIN_NPM").unwrap_or_else(|_| "npm".into())
    }

    fn run(cmd: &mut Command, what: &str) -> Result<(), Error> {
        let out = cmd.output().map_err(|e| {
            format!(
                "{what}: cannot run {:?} ({e}); the console's editor is built with Node.js and npm \
                 (Debian: `apt-get install nodejs npm`)",
                cmd.get_program()
            )
        })?;
        if !out.status.success() {
            return Err(format!(
                "{what} failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(())
    }
}
