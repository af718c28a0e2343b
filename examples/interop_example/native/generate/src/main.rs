//! `make generate` for the example: writes its bindings from its operation
//! table (`interop_example::OPERATIONS`) with tally's generator
//! (`tally_bindgen`): `src/interop_example_nif.erl` (the NIF stubs),
//! `src/interop_example_atoms.erl` (the vocabulary), `src/interop_example_ops.erl`
//! (a port journal's classes, unused here), `src/interop_example/nif.gleam`,
//! `src/interop_example/port.gleam` and `src/interop_example.gleam` (from
//! their `.gleam.in` preludes), and the Rust adapters: the NIF functions
//! (`native/nif/src/generated.rs`) and the port's `call`
//! (`native/port/src/generated.rs`).
//! `--check` writes nothing and fails when a file is not what the table gives;
//! `cargo test` runs the same check.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tally_bindgen::plain::PlainAdapters;
use tally_bindgen::Project;

fn project() -> Project<'static> {
    Project {
        operations: interop_example::OPERATIONS,
        resources: &[],
        atoms: interop_example::vocabulary(),
        source: "native/meter/src/lib.rs",
        nif_module: "interop_example_nif",
        nif_load:
            "erlang:load_nif(filename:join(interop_example_ffi:priv_dir(), \"libinterop_example_nif\"), 0)",
        ops_module: "interop_example_ops",
        atoms_module: "interop_example_atoms",
        values_module: None,
        records: &[],
        gleam_nif: "interop_example/nif",
        gleam_port: "interop_example/port",
        gleam_modules: &[("meter", "interop_example/meter")],
        gleam_error: "meter.MeterError",
        gleam_other_port: "meter.BadArgument",
        erlang_dir: "src",
        gleam_dir: "src",
        nif_rust: None,
        port_rust: None,
        plain: Some(PlainAdapters {
            nif: "native/nif/src/generated.rs",
            port: "native/port/src/generated.rs",
            gleam: "interop_example",
        }),
        api: &[],
    }
}

/// The example's root (where gleam.toml is).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn main() -> ExitCode {
    tally_bindgen::run(&project(), &root())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_bindgen::{drift, files};

    /// The drift check: the generated files are what the table gives.
    #[test]
    fn generated_files_are_what_the_table_gives() {
        let generated = files(&project(), &root()).unwrap();
        assert_eq!(
            drift(&root(), &generated),
            Vec::<PathBuf>::new(),
            "run `make generate`"
        );
    }
}
