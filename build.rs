//! Generates the typed register layer from the datasheet files in `registers/`.
//! See `registers/FORMAT.md` and `codegen/`.

#[path = "codegen/mod.rs"]
mod codegen;

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo::rerun-if-changed=registers");
    println!("cargo::rerun-if-changed=codegen");
    match codegen::build(&manifest.join("registers"), "registers", &out) {
        Ok(files) => {
            for f in files {
                println!("cargo::rerun-if-changed={}", f.display());
            }
        }
        Err(errors) => {
            for e in errors {
                println!("cargo::error={e}");
            }
        }
    }
}
