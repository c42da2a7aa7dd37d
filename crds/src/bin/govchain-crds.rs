//! Prints the govchain CRDs as YAML (`govchain-crds`), or writes them into a
//! directory (`govchain-crds --out DIR`, one file per CRD).

use std::{path::PathBuf, process::ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = match args.as_slice() {
        [] => None,
        [flag, dir] if flag == "--out" => Some(PathBuf::from(dir)),
        _ => {
            eprintln!(
                "usage: govchain-crds [--out DIR]\n  prints the Chain and ChainMember CRDs, or writes them into DIR"
            );
            return ExitCode::from(2);
        }
    };
    let crds = match govchain_crds::all_crds() {
        Ok(crds) => crds,
        Err(e) => {
            eprintln!("govchain-crds: {e}");
            return ExitCode::FAILURE;
        }
    };
    match out {
        None => {
            let docs: Vec<&str> = crds.iter().map(|(_, yaml)| yaml.as_str()).collect();
            print!("{}", docs.join("---\n"));
        }
        Some(dir) => {
            for (file, yaml) in &crds {
                let path = dir.join(file);
                if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, yaml)) {
                    eprintln!("govchain-crds: cannot write {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
                eprintln!("wrote {}", path.display());
            }
        }
    }
    ExitCode::SUCCESS
}
