//! `make generate`: writes tally's bindings from its operation table
//! (tally_core::operations). `tally_bindgen --check [ROOT]` writes nothing
//! and fails, naming the files, when a generated file differs from what the
//! table gives.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tally_bindgen::{drift, files, write, ApiModule, Project};

/// tally's bindings: which table, which modules.
pub fn tally() -> Project<'static> {
    Project {
        operations: tally_core::operations::OPERATIONS,
        resources: tally_core::operations::RESOURCES,
        atoms: tally_core::operations::vocabulary(),
        source: "native/core/src/operations.rs",
        nif_module: "tally_nif",
        nif_load: "erlang:load_nif(tally_priv:path(\"libtally_nif\"), 0)",
        ops_module: "tally_port_ops",
        atoms_module: "tally_atoms",
        values_module: Some("tally_values"),
        // The engine values Erlang code reads or makes (the outbox's written
        // batches, the port's ingested batches, a close's customer totals,
        // the errors the port's owner answers with); those holding a
        // created handle are added.
        records: &[
            "billing.WrittenBatch",
            "billing.CustomerTotal",
            "event.Ingested",
            "engine.EngineError",
        ],
        gleam_nif: "tally/nif",
        gleam_port: "tally/port",
        gleam_modules: &[
            ("billing", "tally/billing"),
            ("engine", "tally/engine"),
            ("event", "tally/event"),
            ("option", "tally/option"),
            ("usage", "tally/usage"),
        ],
        gleam_error: "engine.EngineError",
        gleam_other_port: "engine.OnOtherPort",
        erlang_dir: "erlang_src",
        gleam_dir: "gleam_src",
        nif_rust: Some("native/nif/src/generated.rs"),
        port_rust: Some("native/port/src/generated.rs"),
        plain: None,
        api: &[ApiModule {
            resource: "aggregator",
            module: "tally/aggregate",
            type_name: "Aggregator",
        }],
    }
}

/// The repository's root, from this crate's place in it.
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = args.iter().any(|a| a == "--check");
    let root = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(repository_root);
    let generated = match files(&tally(), &root) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("tally_bindgen: reading a prelude under {}: {e}", root.display());
            return ExitCode::from(2);
        }
    };
    if check {
        let stale = drift(&root, &generated);
        for path in &stale {
            eprintln!(
                "tally_bindgen: {} is not what the table gives (run `make generate`)",
                path.display()
            );
        }
        return if stale.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    match write(&root, &generated) {
        Ok(written) => {
            for path in written {
                println!("wrote {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tally_bindgen: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The drift check: `cargo test` (so `make test`) fails when a generated
    /// file is not what the table and its prelude give.
    #[test]
    fn generated_files_are_what_the_table_gives() {
        let root = repository_root();
        let generated = files(&tally(), &root).unwrap();
        assert_eq!(
            drift(&root, &generated),
            Vec::<PathBuf>::new(),
            "run `make generate`"
        );
    }

    /// `(name, file)` of every item in the `.rs` files under `dir` that
    /// `is_item` finds in a line (with the line after it).
    fn items_in(dir: &Path, is_item: impl Fn(&str, &str) -> Option<String>) -> Vec<(String, String)> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let next = lines.get(i + 1).copied().unwrap_or("");
                if let Some(name) = is_item(line.trim_start(), next.trim_start()) {
                    let file = path.file_name().unwrap().to_string_lossy().into_owned();
                    found.push((name, file));
                }
            }
        }
        found.sort();
        found
    }

    /// No NIF function and no port request that the table does not give,
    /// and none of the table's missing: every `#[rustler::nif]` of the NIF
    /// crate and every request the port's dispatch matches are in the
    /// generated files, with exactly the table's names.
    #[test]
    fn every_nif_and_port_operation_is_in_the_table() {
        let root = repository_root();
        let project = tally();
        let nifs = items_in(&root.join("native/nif/src"), |line, next| {
            if !line.starts_with("#[rustler::nif") {
                return None;
            }
            let f = next
                .strip_prefix("fn ")
                .expect("a function after #[rustler::nif]");
            Some(f.split(['<', '(']).next().unwrap().to_string())
        });
        let mut want: Vec<(String, String)> = tally_bindgen::nif_names(&project)
            .into_iter()
            .map(|n| (n, "generated.rs".to_string()))
            .collect();
        want.sort();
        assert_eq!(nifs, want, "the NIF functions are not the table's");
        // A request is a match arm `("name", ...) =>` of the port's dispatch.
        let requests = items_in(&root.join("native/port/src"), |line, _| {
            let rest = line.strip_prefix("(\"")?;
            let (name, after) = rest.split_once('"')?;
            (after.starts_with(", ") && line.contains("=>")).then(|| name.to_string())
        });
        let mut want: Vec<(String, String)> = tally_bindgen::port_names(&project)
            .into_iter()
            .map(|n| (n.to_string(), "generated.rs".to_string()))
            .collect();
        want.sort();
        assert_eq!(requests, want, "the port's requests are not the table's");
    }

    /// A generated file edited by hand is drift, and only that file.
    #[test]
    fn a_hand_edited_generated_file_is_drift() {
        let root = repository_root();
        let generated = files(&tally(), &root).unwrap();
        let copy = std::env::temp_dir().join(format!("tally-bindgen-drift-{}", std::process::id()));
        for f in &generated {
            let path = copy.join(&f.path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &f.text).unwrap();
        }
        assert!(drift(&copy, &generated).is_empty());
        let edited = copy.join("erlang_src/tally_port_ops.erl");
        let text = std::fs::read_to_string(&edited).unwrap();
        std::fs::write(&edited, text.replace("mutating(aggregator_merge) -> true;\n", "")).unwrap();
        assert_eq!(
            drift(&copy, &generated),
            vec![PathBuf::from("erlang_src/tally_port_ops.erl")]
        );
        std::fs::remove_dir_all(&copy).unwrap();
    }
}
