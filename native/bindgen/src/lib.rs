//! tally_bindgen: a Rust engine's BEAM bindings, written from its operation
//! table ([`tally_interop::table`]) and checked for drift.
//!
//! From a [`Project`] (the table, the resources, the atom vocabulary and the
//! names of the modules to write) [`files`] gives every generated file:
//!
//! * the Erlang NIF stubs with `-spec` and the `-on_load` loader;
//! * an Erlang module of the port journal's classes (`mutating/1`,
//!   `creates_handle/1`, `handle_args/1`, and where a created handle is in
//!   a reply: `created_handle/2`, `with_created/3`);
//! * an Erlang module of engine values read by name ([`values`]: a type,
//!   constructor, accessors and shape check per record, from the Gleam
//!   type's own definition, [`gleam_types`]), so no Erlang code outside the
//!   generated files reads an engine value by tuple position;
//! * the atom vocabulary (`all/0`), loaded before a port's replies are
//!   decoded with `binary_to_term(_, [safe])`;
//! * Gleam externals with types and `///` docs for the NIF, and typed Gleam
//!   functions over the port's generic call.
//!
//! Each Gleam module may have a hand-written prelude (`<module>.gleam.in`
//! beside it: module docs, imports, types and functions the table cannot
//! give), which is copied in. Every generated file says so in its first line.
//! [`write()`] writes them; [`drift`] names the files on disk that differ, so a
//! test can fail the build when a generated file was edited by hand or the
//! table changed without `make generate`.
//!
//! The port prelude must define `Port` (with a field `ref`), `same_port(Port,
//! Port) -> Bool`, and `owner_call(ref, Request, args)`, the external that
//! sends `{Op, ArgsTuple}` to the port's owner.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use tally_interop::table::{pascal, Arg, Operation, Port, Resource, Scheduler};

mod gleam_port;
pub mod gleam_types;
pub mod plain;
pub mod values;

use gleam_types::GleamType;

/// Gleam's line width.
const WIDTH: usize = 80;

/// What to generate, and where.
pub struct Project<'a> {
    pub operations: &'a [Operation],
    pub resources: &'a [&'a Resource],
    /// Every atom the engine can put in a reply.
    pub atoms: Vec<&'static str>,
    /// Said in each file's first line: where the definitions are, how to regenerate.
    pub source: &'a str,
    /// The Erlang NIF module (`tally_nif`) and the expression that loads the library.
    pub nif_module: &'a str,
    pub nif_load: &'a str,
    /// The Erlang module of the journal's classes.
    pub ops_module: &'a str,
    /// The Erlang module of the atom vocabulary.
    pub atoms_module: &'a str,
    /// The Erlang module of engine values read by name ([`values`]): the
    /// `records` (Gleam types, `usage.Loaded`) and the records of results
    /// that hold a created handle. `None`: no such module.
    pub values_module: Option<&'a str>,
    pub records: &'a [&'a str],
    /// Gleam modules (`tally/nif`, `tally/port`).
    pub gleam_nif: &'a str,
    pub gleam_port: &'a str,
    /// `(alias, import path)` of the Gleam modules the types name (`event` → `tally/event`).
    pub gleam_modules: &'a [(&'a str, &'a str)],
    /// The Gleam type of a failed call (`engine.EngineError`).
    pub gleam_error: &'a str,
    /// The Gleam error when handles of one call live on different ports;
    /// called with the argument's name in a Gleam string literal.
    pub gleam_other_port: &'a str,
    /// Directory of Erlang sources and of Gleam sources, relative to the root.
    pub erlang_dir: &'a str,
    pub gleam_dir: &'a str,
    /// The generated Rust adapters of the operations with a `core` function:
    /// the NIF's (`#[rustler::nif]` functions) and the port's (a dispatch
    /// method on the port's engine); `None` writes none.
    pub nif_rust: Option<&'a str>,
    pub port_rust: Option<&'a str>,
    /// Adapters for a project without handles (the NIF functions, the
    /// port's `call`, a Gleam module that picks the backend per call), for
    /// the operations with a `core` function; `None` writes none.
    pub plain: Option<plain::PlainAdapters<'a>>,
    /// The typed API over every backend, one module per resource: generated
    /// from its prelude plus a function for each operation with an `api` name.
    pub api: &'a [ApiModule<'a>],
}

/// A module of the typed API over every backend (`tally/aggregate`).
///
/// Its prelude (`<module>.gleam.in`) defines `type_name` with the
/// constructors `OnNif(_)`, `OnPort(_)`, `OnGleam(_)` and
/// `OnShadow(primary, secondary)`, and imports the NIF and port modules,
/// `pure` (whose `<operation>` is the pure-Gleam twin) and `shadow` (whose
/// `compare(label, input, primary, fn() { secondary })` runs both).
pub struct ApiModule<'a> {
    pub resource: &'a str,
    pub module: &'a str,
    pub type_name: &'a str,
}

/// One generated file: its path under the project's root and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: PathBuf,
    pub text: String,
}

/// Every generated file. `root` is read for the Gleam preludes only.
pub fn files(p: &Project, root: &Path) -> std::io::Result<Vec<File>> {
    let nif_prelude = prelude(root, p.gleam_dir, p.gleam_nif)?;
    let port_prelude = prelude(root, p.gleam_dir, p.gleam_port)?;
    let types = gleam_types::read(root, p.gleam_dir, p.gleam_modules)?;
    let mut out = vec![
        File {
            path: Path::new(p.erlang_dir).join(format!("{}.erl", p.nif_module)),
            text: erlang_nif(p),
        },
        File {
            path: Path::new(p.erlang_dir).join(format!("{}.erl", p.ops_module)),
            text: erlang_ops(p, &types),
        },
        File {
            path: Path::new(p.erlang_dir).join(format!("{}.erl", p.atoms_module)),
            text: erlang_atoms(p),
        },
        File {
            path: gleam_path(p.gleam_dir, p.gleam_nif),
            text: gleam_nif(p, &nif_prelude),
        },
        File {
            path: gleam_path(p.gleam_dir, p.gleam_port),
            text: gleam_port::module(p, &port_prelude, &types),
        },
    ];
    if let Some(plain) = &p.plain {
        let prelude = prelude(root, p.gleam_dir, plain.gleam)?;
        out.push(File {
            path: PathBuf::from(plain.nif),
            text: plain::rust_nif(p),
        });
        out.push(File {
            path: PathBuf::from(plain.port),
            text: plain::rust_port(p),
        });
        out.push(File {
            path: gleam_path(p.gleam_dir, plain.gleam),
            text: plain::gleam(p, &prelude),
        });
    }
    if let Some(module) = p.values_module {
        out.push(File {
            path: Path::new(p.erlang_dir).join(format!("{module}.erl")),
            text: header_erlang(p) + &values::module(module, &value_records(p, &types)),
        });
    }
    for m in p.api {
        let prelude = prelude(root, p.gleam_dir, m.module)?;
        out.push(File {
            path: gleam_path(p.gleam_dir, m.module),
            text: gleam_api(p, m, &prelude),
        });
    }
    if let Some(path) = p.nif_rust {
        out.push(File {
            path: PathBuf::from(path),
            text: rust_nif(p),
        });
    }
    if let Some(path) = p.port_rust {
        out.push(File {
            path: PathBuf::from(path),
            text: rust_port(p),
        });
    }
    Ok(out)
}

/// Writes the files under `root`, leaving unchanged ones untouched.
pub fn write(root: &Path, files: &[File]) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for f in files {
        let path = root.join(&f.path);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(f.text.as_str()) {
            std::fs::write(&path, &f.text)?;
            written.push(f.path.clone());
        }
    }
    Ok(written)
}

/// The files on disk under `root` that are not what the table gives.
pub fn drift(root: &Path, files: &[File]) -> Vec<PathBuf> {
    files
        .iter()
        .filter(|f| std::fs::read_to_string(root.join(&f.path)).ok().as_deref() != Some(f.text.as_str()))
        .map(|f| f.path.clone())
        .collect()
}

fn gleam_path(dir: &str, module: &str) -> PathBuf {
    Path::new(dir).join(format!("{module}.gleam"))
}

fn prelude_path(dir: &str, module: &str) -> PathBuf {
    Path::new(dir).join(format!("{module}.gleam.in"))
}

/// A hand-written prelude split into module docs, imports and the rest.
#[derive(Default)]
struct Prelude {
    name: String,
    docs: Vec<String>,
    imports: Vec<String>,
    body: String,
}

fn prelude(root: &Path, dir: &str, module: &str) -> std::io::Result<Prelude> {
    let rel = prelude_path(dir, module);
    let text = match std::fs::read_to_string(root.join(&rel)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let mut p = Prelude {
        name: rel.file_name().unwrap_or_default().to_string_lossy().into_owned(),
        ..Prelude::default()
    };
    let mut lines = text.lines().peekable();
    while let Some(l) = lines.next_if(|l| l.starts_with("////")) {
        p.docs.push(l.to_string());
    }
    let mut body = Vec::new();
    for l in lines {
        match l.strip_prefix("import ") {
            Some(m) => p.imports.push(m.trim().to_string()),
            None => body.push(l),
        }
    }
    p.body = body.join("\n").trim().to_string();
    Ok(p)
}

fn header_erlang(p: &Project) -> String {
    format!(
        "%% Generated by `make generate` from {}: do not edit.\n",
        p.source
    )
}

// ---------------------------------------------------------------- Erlang

fn erl_var(name: &str) -> String {
    pascal(name)
}

fn comment(doc: &str, prefix: &str) -> String {
    doc.lines()
        .map(|l| {
            if l.is_empty() {
                prefix.trim_end().to_string()
            } else {
                format!("{prefix}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first paragraph of a doc, in plain text.
fn summary(doc: &str) -> String {
    doc.split("\n\n").next().unwrap_or("").to_string()
}

fn erlang_nif(p: &Project) -> String {
    let ops: Vec<&Operation> = p.operations.iter().filter(|o| o.nif).collect();
    let mut s = header_erlang(p);
    let _ = write!(
        s,
        "%% @doc Loader and stubs for the NIF library. Every function returns\n\
         %% `{{ok, Value}}` or `{{error, EngineError}}` in Gleam's shapes; each stub\n\
         %% raises `{{not_loaded, {m}}}` when the library could not be loaded.\n\
         %% Resources are opaque references.\n\
         -module({m}).\n\n",
        m = p.nif_module
    );
    // A chunked operation's dirty twin is exported too: tests compare the two.
    let exports: Vec<String> = ops
        .iter()
        .flat_map(|o| {
            let mut names = vec![format!("{}/{}", o.name, o.args.len())];
            if o.scheduler == Scheduler::Chunked {
                names.push(format!("{}_dirty/{}", o.name, o.args.len()));
            }
            names
        })
        .collect();
    let _ = writeln!(s, "-export([{}]).", wrap_list(&exports, 9, 100));
    let _ = writeln!(s, "-on_load(init/0).\n");
    let _ = writeln!(
        s,
        "-spec init() -> ok | {{error, term()}}.\ninit() ->\n    {}.\n",
        p.nif_load
    );
    for o in ops {
        let params: Vec<String> = o.args.iter().map(|a| a.ty.erlang.to_string()).collect();
        let vars: Vec<String> = o.args.iter().map(|a| erl_var(a.name)).collect();
        let ret = format!("{{ok, {}}} | {{error, term()}}", o.result.erlang);
        let sched = match o.scheduler {
            Scheduler::Normal => "normal scheduler",
            Scheduler::DirtyCpu => "dirty CPU scheduler",
            Scheduler::DirtyIo => "dirty I/O scheduler",
            Scheduler::SplitAt { .. } => "normal scheduler, dirty CPU over the limit",
            Scheduler::Chunked => "normal scheduler, in slices of about 1 ms",
        };
        let _ = writeln!(s, "{}\n%% ({sched})", comment(&summary(o.doc), "%% "));
        let _ = writeln!(s, "-spec {}({}) -> {ret}.", o.name, params.join(", "));
        match o.scheduler {
            Scheduler::SplitAt { arg, limit } => {
                let v = &vars[arg - 1];
                let all = vars.join(", ");
                let _ = writeln!(
                    s,
                    "{n}({all}) when byte_size({v}) > {limit} ->\n    {n}_dirty({all});\n{n}({all}) ->\n    {n}_normal({all}).\n",
                    n = o.name
                );
                for twin in ["normal", "dirty"] {
                    let _ = writeln!(s, "-spec {}_{twin}({}) -> {ret}.", o.name, params.join(", "));
                    let _ = writeln!(s, "{}_{twin}({}) -> not_loaded().\n", o.name, unused(&vars));
                }
            }
            Scheduler::Chunked => {
                let _ = writeln!(s, "{}({}) -> not_loaded().\n", o.name, unused(&vars));
                let _ = writeln!(s, "%% The same in one call on a dirty CPU scheduler.");
                let _ = writeln!(s, "-spec {}_dirty({}) -> {ret}.", o.name, params.join(", "));
                let _ = writeln!(s, "{}_dirty({}) -> not_loaded().\n", o.name, unused(&vars));
            }
            _ => {
                let _ = writeln!(s, "{}({}) -> not_loaded().\n", o.name, unused(&vars));
            }
        }
    }
    s.push_str(
        "%% No spec on purpose: Dialyzer types erlang:nif_error/1 as returning\n\
         %% anything, so each stub keeps the type of its own -spec.\n\
         not_loaded() ->\n    erlang:nif_error({not_loaded, ?MODULE}).\n",
    );
    s
}

fn unused(vars: &[String]) -> String {
    vars.iter()
        .map(|v| format!("_{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Items joined with ", ", broken before `width` and continued at `indent`.
pub(crate) fn wrap_list(items: &[String], indent: usize, width: usize) -> String {
    let mut out = String::new();
    let mut col = indent;
    for (i, item) in items.iter().enumerate() {
        let piece = if i + 1 < items.len() {
            format!("{item},")
        } else {
            item.clone()
        };
        if i > 0 {
            if col + 1 + piece.len() > width {
                out.push('\n');
                out.push_str(&" ".repeat(indent));
                col = indent;
            } else {
                out.push(' ');
                col += 1;
            }
        }
        out.push_str(&piece);
        col += piece.len();
    }
    out
}

fn port_ops<'a>(p: &'a Project) -> impl Iterator<Item = &'a Operation> {
    p.operations.iter().filter(|o| o.port != Port::No)
}

/// A record type with a field holding one handle: the type `usage.Loaded`
/// of a result `usage.Loaded({aggregator})`, and the index of the field
/// whose type is the parameter the handle fills.
pub struct HandleRecord<'t> {
    pub qualified: String,
    pub constructor: &'t gleam_types::Constructor,
    pub field: usize,
    /// Whether the field is a list of handles (`List(batch)`), not one.
    pub list: bool,
}

/// The record holding a handle that a result type `ty` names, if any.
fn handle_record<'t>(types: &'t [GleamType], ty: &str, resource: &str) -> Option<HandleRecord<'t>> {
    let (name, args) = ty.split_once('(')?;
    let args: Vec<&str> = args.trim_end_matches(')').split(',').map(str::trim).collect();
    let at = args.iter().position(|a| *a == format!("{{{resource}}}"))?;
    let t = types.iter().find(|t| t.qualified == name)?;
    let param = t.params.get(at)?;
    let constructor = values::record(types, name).unwrap_or_else(|e| panic!("{e}"));
    let list_of = format!("List({param})");
    let (field, list) = constructor.fields.iter().enumerate().find_map(|(i, f)| {
        if f.ty == *param {
            Some((i, false))
        } else if f.ty == list_of {
            Some((i, true))
        } else {
            None
        }
    })?;
    Some(HandleRecord {
        qualified: name.to_string(),
        constructor,
        field,
        list,
    })
}

/// The operations whose success creates a journaled handle inside a record.
fn created_in_records<'p, 't>(
    p: &'p Project,
    types: &'t [GleamType],
) -> Vec<(&'p Operation, HandleRecord<'t>)> {
    port_ops(p)
        .filter(|o| o.creates_handle(p.resources))
        .filter_map(|o| {
            let r = o.creates()?;
            handle_record(types, o.result.gleam, r).map(|h| (o, h))
        })
        .collect()
}

/// The records of the values module: the project's, then those of results
/// that hold a created handle.
fn value_records<'t>(p: &Project, types: &'t [GleamType]) -> Vec<&'t GleamType> {
    let mut names: Vec<String> = p.records.iter().map(|r| r.to_string()).collect();
    for (_, h) in created_in_records(p, types) {
        if !names.contains(&h.qualified) {
            names.push(h.qualified);
        }
    }
    names
        .iter()
        .map(|n| values::custom_type(types, n).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

fn erlang_ops(p: &Project, types: &[GleamType]) -> String {
    let mut s = header_erlang(p);
    let _ = write!(
        s,
        "%% @doc The port journal's classes of the port's requests: which change\n\
         %% state (journaled and replayed after a port restart), which create a\n\
         %% handle, and which arguments are handles (mapped from logical to the\n\
         %% current process's handles); and where a created handle is in a reply.\n\
         -module({}).\n\n\
         -export([mutating/1, creates_handle/1, handle_args/1, created_handle/2, with_created/3]).\n\n",
        p.ops_module
    );
    let clauses = |name: &str, pick: &dyn Fn(&Operation) -> Option<String>, default: &str| {
        let mut c = String::new();
        for o in port_ops(p) {
            if let Some(v) = pick(o) {
                let _ = writeln!(c, "{name}({}) -> {v};", o.name);
            }
        }
        let _ = writeln!(c, "{name}(_) -> {default}.\n");
        c
    };
    s.push_str("%% Requests whose success changes the port's state.\n-spec mutating(atom()) -> boolean().\n");
    s.push_str(&clauses(
        "mutating",
        &|o| o.mutates.then(|| "true".into()),
        "false",
    ));
    s.push_str(
        "%% Requests whose success returns a new handle.\n-spec creates_handle(atom()) -> boolean().\n",
    );
    s.push_str(&clauses(
        "creates_handle",
        &|o| o.creates_handle(p.resources).then(|| "true".into()),
        "false",
    ));
    s.push_str("%% Positions (1-based) of the arguments that are handles.\n-spec handle_args(atom()) -> [pos_integer()].\n");
    s.push_str(&clauses(
        "handle_args",
        &|o| {
            let at = o.handle_positions();
            (!at.is_empty()).then(|| {
                format!(
                    "[{}]",
                    at.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
                )
            })
        },
        "[]",
    ));
    let in_records = created_in_records(p, types);
    let values = |what: &str| {
        p.values_module
            .unwrap_or_else(|| panic!("{what}: a handle inside a record needs a values module"))
    };
    s.push_str("%% The handle in the reply of a request that creates one.\n-spec created_handle(atom(), term()) -> term().\n");
    for (o, h) in &in_records {
        let tag = h.constructor.tag();
        let field = h.constructor.fields[h.field].label.as_deref().unwrap_or_default();
        let _ = writeln!(
            s,
            "created_handle({}, Value) -> {}:{}(Value);",
            o.name,
            values(o.name),
            values::accessor(&tag, field)
        );
    }
    s.push_str("created_handle(_, Handle) -> Handle.\n\n");
    s.push_str(
        "%% The reply of a request that created a handle, with `Handle` in its place.\n\
         -spec with_created(atom(), term(), term()) -> term().\n",
    );
    for (o, h) in &in_records {
        let tag = h.constructor.tag();
        let m = values(o.name);
        let fields: Vec<String> = h
            .constructor
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                if i == h.field {
                    "Handle".to_string()
                } else {
                    let label = f.label.as_deref().unwrap_or_default();
                    format!("{m}:{}(Value)", values::accessor(&tag, label))
                }
            })
            .collect();
        let _ = writeln!(
            s,
            "with_created({}, Value, Handle) ->\n    {m}:{tag}({});",
            o.name,
            fields.join(", ")
        );
    }
    s.push_str("with_created(_, _Value, Handle) -> Handle.\n");
    s
}

fn erlang_atoms(p: &Project) -> String {
    let mut atoms: Vec<&str> = p.atoms.clone();
    atoms.sort_unstable();
    atoms.dedup();
    let quoted: Vec<String> = atoms.iter().map(|a| erlang_atom(a)).collect();
    let mut s = header_erlang(p);
    let _ = write!(
        s,
        "%% @doc Every atom the engine can put in a reply. A port's replies are\n\
         %% decoded with `binary_to_term(Bin, [safe])`, which refuses atoms the VM\n\
         %% does not know yet; loading this module first makes every atom of the\n\
         %% engine's vocabulary exist without any being created from the port's output.\n\
         -module({}).\n\n-export([all/0]).\n\n-spec all() -> [atom()].\nall() ->\n    [{}].\n",
        p.atoms_module,
        wrap_list(&quoted, 5, 100)
    );
    s
}

fn erlang_atom(a: &str) -> String {
    let plain = a.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(
            a,
            "after"
                | "and"
                | "andalso"
                | "band"
                | "begin"
                | "bnot"
                | "bor"
                | "bsl"
                | "bsr"
                | "bxor"
                | "case"
                | "catch"
                | "cond"
                | "div"
                | "end"
                | "fun"
                | "if"
                | "let"
                | "not"
                | "of"
                | "or"
                | "orelse"
                | "receive"
                | "rem"
                | "try"
                | "when"
                | "xor"
                | "maybe"
                | "else"
        );
    if plain {
        a.to_string()
    } else {
        format!("'{a}'")
    }
}

// ---------------------------------------------------------------- Gleam

/// A generated Gleam module's head: the line saying so, the prelude's
/// module docs, the imports (the prelude's and those `types` name), and the
/// prelude's body.
fn gleam_head(p: &Project, prelude: &Prelude, types: &[String]) -> String {
    let from = if prelude.name.is_empty() {
        p.source.to_string()
    } else {
        format!("{} and {}", p.source, prelude.name)
    };
    let mut s = format!("//// Generated by `make generate` from {from}: do not edit.\n");
    if !prelude.docs.is_empty() {
        s.push_str("////\n");
        s.push_str(&prelude.docs.join("\n"));
        s.push('\n');
    }
    s.push('\n');
    s.push_str(&imports(p, prelude, types));
    if !prelude.body.is_empty() {
        let _ = write!(s, "\n{}\n", prelude.body);
    }
    s
}

/// The imports a module needs: the prelude's, and those its types name.
fn imports(p: &Project, prelude: &Prelude, types: &[String]) -> String {
    let mut all: Vec<String> = prelude.imports.clone();
    for (alias, path) in p.gleam_modules {
        let used = types.iter().any(|t| names_module(t, alias));
        if used && !all.iter().any(|i| i == path) {
            all.push(path.to_string());
        }
    }
    all.sort();
    all.iter().map(|i| format!("import {i}\n")).collect()
}

/// Whether a Gleam type names `alias.Something`.
fn names_module(ty: &str, alias: &str) -> bool {
    let needle = format!("{alias}.");
    ty.match_indices(&needle)
        .any(|(at, _)| at == 0 || !ty[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
}

fn docs(doc: &str) -> String {
    comment(doc, "/// ") + "\n"
}

/// `head(params) -> ret tail`, broken one parameter a line when too wide.
fn signature(head: &str, params: &[String], ret: &str, tail: &str) -> String {
    let one = format!("{head}({}) -> {ret}{tail}", params.join(", "));
    if one.len() <= WIDTH || params.is_empty() {
        return one;
    }
    let mut s = format!("{head}(\n");
    for prm in params {
        let _ = writeln!(s, "  {prm},");
    }
    let _ = write!(s, ") -> {ret}{tail}");
    s
}

/// `let name = #(items)` at two spaces, broken one item a line when too wide.
fn let_tuple(name: &str, items: &[String]) -> String {
    let one = format!("  let {name} = #({})", items.join(", "));
    if one.len() <= WIDTH {
        return one + "\n";
    }
    let mut s = format!("  let {name} = #(\n");
    for i in items {
        let _ = writeln!(s, "    {i},");
    }
    s + "  )\n"
}

fn result_type(p: &Project, ok: &str) -> String {
    format!("Result({ok}, {})", p.gleam_error)
}

fn gleam_nif(p: &Project, prelude: &Prelude) -> String {
    let ops: Vec<&Operation> = p.operations.iter().filter(|o| o.nif).collect();
    let handle = |r: &str| format!("Nif{}", pascal(r));
    let mut types: Vec<String> = vec![p.gleam_error.to_string()];
    for o in &ops {
        types.push(o.result.gleam.to_string());
        types.extend(o.args.iter().map(|a| a.gleam_type(handle)));
    }
    let mut s = gleam_head(p, prelude, &types);
    for r in used_resources(p, &ops) {
        let _ = write!(
            s,
            "\n/// {} held by the NIF library.\npub type {}\n",
            r.doc.trim_end_matches('.'),
            handle(r.name)
        );
    }
    for o in ops {
        let params: Vec<String> = o
            .args
            .iter()
            .map(|a| format!("{}: {}", a.name, a.gleam_type(handle)))
            .collect();
        let ret = result_type(p, &o.result.gleam_with(handle));
        let _ = write!(
            s,
            "\n{}@external(erlang, \"{}\", \"{}\")\n{}\n",
            docs(o.doc),
            p.nif_module,
            o.name,
            signature(&format!("pub fn {}", o.name), &params, &ret, "")
        );
    }
    s
}

/// The resources the operations' arguments and results name, in table order.
fn used_resources<'a>(p: &'a Project, ops: &[&Operation]) -> Vec<&'a Resource> {
    p.resources
        .iter()
        .copied()
        .filter(|r| {
            ops.iter().any(|o| {
                o.result.resources().contains(&r.name)
                    || o.args.iter().any(|a| a.handle.is_some_and(|h| h.name == r.name))
            })
        })
        .collect()
}

/// A project's whole generator command: with `--check` among the program's
/// arguments it writes nothing and fails, naming each file that is not what
/// the table gives; otherwise it writes the files that changed. Another
/// project's `main` is `tally_bindgen::run(&project(), &root)`
/// (examples/interop_example/native/generate).
pub fn run(p: &Project, root: &Path) -> std::process::ExitCode {
    use std::process::ExitCode;
    let generated = match files(p, root) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("generate: reading a prelude under {}: {e}", root.display());
            return ExitCode::from(2);
        }
    };
    if std::env::args().skip(1).any(|a| a == "--check") {
        let stale = drift(root, &generated);
        for path in &stale {
            eprintln!(
                "{} is not what the table gives: run `make generate`",
                path.display()
            );
        }
        return if stale.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    match write(root, &generated) {
        Ok(written) => {
            for path in written {
                println!("wrote {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("generate: {e}");
            ExitCode::from(2)
        }
    }
}

// ---------------------------------------------------------------- Rust

fn header_rust(p: &Project) -> String {
    format!(
        "// Generated by `make generate` from {}: do not edit.\n",
        p.source
    )
}

/// The operations whose adapters are generated: those naming their work.
fn generated_ops<'a>(p: &'a Project) -> impl Iterator<Item = (&'a Operation, &'static str)> {
    p.operations.iter().filter_map(|o| o.core.map(|c| (o, c)))
}

/// The function a `core` path names in a backend crate: `backend::f` is the
/// crate's own `crate::backend::f`; anything else is called as written.
fn work_path(core: &str) -> (String, bool) {
    match core.strip_prefix("backend::") {
        Some(f) => (format!("crate::backend::{f}"), true),
        None => (core.to_string(), false),
    }
}

/// The NIF functions an operation gives: `(name, scheduler, body)` where
/// body is `Guarded`, `Chunked`, or `Guarded` with a size limit on an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    Guarded,
    Chunked,
    Limited { arg: usize, limit: usize },
}

/// Every NIF function of an operation: its name, its scheduler attribute and its body.
pub fn nif_functions(o: &Operation) -> Vec<(String, Scheduler, Body)> {
    let n = o.name;
    match o.scheduler {
        Scheduler::SplitAt { arg, limit } => vec![
            (
                format!("{n}_normal"),
                Scheduler::Normal,
                Body::Limited { arg, limit },
            ),
            (format!("{n}_dirty"), Scheduler::DirtyCpu, Body::Guarded),
        ],
        Scheduler::Chunked => vec![
            (n.to_string(), Scheduler::Normal, Body::Chunked),
            (format!("{n}_dirty"), Scheduler::DirtyCpu, Body::Guarded),
        ],
        s => vec![(n.to_string(), s, Body::Guarded)],
    }
}

/// The names of the NIF functions the table gives (see [`nif_functions`]).
pub fn nif_names(p: &Project) -> Vec<String> {
    p.operations
        .iter()
        .filter(|o| o.nif)
        .flat_map(|o| nif_functions(o).into_iter().map(|(n, _, _)| n))
        .collect()
}

/// The port requests the table gives: every operation the port offers.
pub fn port_names<'a>(p: &'a Project) -> Vec<&'a str> {
    port_ops(p).map(|o| o.name).collect()
}

/// Turns the argument `name` (a rustler `Term`, or an ETF `Term` in the port)
/// into its Rust type; returns the statements and the expression to pass.
fn decode_arg(a: &Arg, nif: bool) -> (String, String) {
    let n = a.name;
    match a.ty.rust {
        "&[u8]" if nif => (
            format!("        let {n}: rustler::Binary = {n}.decode().map_err(|_| bad_argument(\"a binary {n}\"))?;\n"),
            format!("{n}.as_slice()"),
        ),
        "&str" if nif => (
            format!(
                "        let {n}: rustler::Binary = {n}.decode().map_err(|_| bad_argument(\"a UTF-8 {n}\"))?;\n        \
                 let {n} = std::str::from_utf8({n}.as_slice()).map_err(|_| bad_argument(\"a UTF-8 {n}\"))?;\n"
            ),
            n.to_string(),
        ),
        "&[u8]" => (format!("        let {n} = binary({n}, \"a binary {n}\")?;\n"), n.to_string()),
        "&str" => (format!("        let {n} = utf8({n}, \"a UTF-8 {n}\")?;\n"), n.to_string()),
        "" => panic!("argument {n}: its Ty names no Rust type"),
        ty if nif => (format!("        let {n}: {ty} = from_gleam({n})?;\n"), n.to_string()),
        ty => (format!("        let {n}: {ty} = arg({n})?;\n"), n.to_string()),
    }
}

/// The handle arguments grouped by resource, in the table's order of
/// resources: every adapter locks (or borrows) them in that one order, so
/// two calls can never wait for each other.
fn handle_groups<'a>(p: &Project, o: &'a Operation) -> Vec<(&'static Resource, Vec<&'a Arg>)> {
    let mut groups: Vec<(&'static Resource, Vec<&Arg>)> = Vec::new();
    for a in o.args {
        if let Some(r) = a.handle {
            match groups.iter_mut().find(|(g, _)| g.name == r.name) {
                Some((_, args)) => args.push(a),
                None => groups.push((r, vec![a])),
            }
        }
    }
    let rank = |r: &Resource| {
        p.resources
            .iter()
            .position(|k| k.name == r.name)
            .unwrap_or(usize::MAX)
    };
    groups.sort_by_key(|(r, _)| rank(r));
    for (r, args) in &groups {
        assert!(
            args.len() <= 2,
            "{}: at most two handles of one resource ({})",
            o.name,
            r.name
        );
    }
    groups
}

/// How a success becomes the reply's value: a new resource, the bytes as
/// one binary, or the value's Gleam shape.
fn wrap_value(p: &Project, o: &Operation, backend: bool, nif: bool) -> String {
    if let Some(r) = o.creates() {
        if o.result.gleam == format!("{{{r}}}") {
            let r = p
                .resources
                .iter()
                .find(|k| k.name == r)
                .unwrap_or_else(|| panic!("{}: unknown resource {r}", o.name));
            return if nif {
                format!(
                    "ResourceArc::new({}Ref(std::sync::Mutex::new(value)))",
                    r.pascal()
                )
            } else {
                format!("{{\n            let handle = self.new_handle();\n            self.{}s.insert(handle, value);\n            handle.into_gleam()\n        }}", r.name)
            };
        }
        assert!(
            backend,
            "{}: a handle inside its result needs a backend function (`backend::{}`)",
            o.name, o.name
        );
    }
    if backend && nif {
        "value".to_string() // a rustler `Encoder` of the backend's own
    } else if o.result.gleam == "BitArray" {
        "tally_interop::BitArray::from(value).into_gleam()".to_string()
    } else {
        "value.into_gleam()".to_string()
    }
}

fn rust_nif(p: &Project) -> String {
    let mut s = header_rust(p);
    s.push_str(
        "//! The NIF functions, one for each operation of the table (two for a\n\
         //! split or chunked one): each decodes its arguments, locks its handles\n\
         //! in the table's order of resources, calls the function that does the\n\
         //! work and returns the result in Gleam's shapes through `guarded` (a\n\
         //! panic is `{error, {native_panic, _}}`) or, for a chunked one, through\n\
         //! `chunked` in slices.\n\n\
         #![allow(unused_imports, clippy::unnecessary_mut_passed, clippy::explicit_auto_deref, clippy::unit_arg)]\n\
         #![allow(clippy::let_unit_value, clippy::useless_conversion, clippy::needless_borrow, clippy::redundant_closure_call, clippy::too_many_arguments)]\n\n\
         use rustler::{Env, ResourceArc, Term};\n\
         use tally_interop::nif::{chunked, from_gleam, guarded};\n\
         use tally_interop::{IntoGleam, Value};\n\n\
         use crate::{bad_argument, lock, lock_pair};\n",
    );
    for r in p.resources {
        let _ = writeln!(s, "use crate::{}Ref;", r.pascal());
    }
    for (o, core) in generated_ops(p).filter(|(o, _)| o.nif) {
        let (path, backend) = work_path(core);
        for (name, scheduler, body) in nif_functions(o) {
            let attr = match scheduler {
                Scheduler::DirtyCpu => "#[rustler::nif(schedule = \"DirtyCpu\")]",
                Scheduler::DirtyIo => "#[rustler::nif(schedule = \"DirtyIo\")]",
                _ => "#[rustler::nif]",
            };
            let params: Vec<String> = std::iter::once("env: Env<'a>".to_string())
                .chain(o.args.iter().map(|a| match a.handle {
                    Some(r) => format!("{}: ResourceArc<{}Ref>", a.name, r.pascal()),
                    None => format!("{}: Term<'a>", a.name),
                }))
                .collect();
            let wrapper = match body {
                Body::Chunked => format!("chunked(env, c\"{}\", ", o.name),
                _ => "guarded(env, ".to_string(),
            };
            let _ = write!(
                s,
                "\n{}\n{attr}\nfn {name}<'a>({}) -> Term<'a> {{\n    {wrapper}|| {{\n",
                comment(&summary(o.doc), "/// "),
                params.join(", ")
            );
            let mut pass = Vec::new();
            for a in o.args.iter().filter(|a| a.handle.is_none()) {
                let (stmts, _) = decode_arg(a, true);
                s.push_str(&stmts);
            }
            if let Body::Limited { arg, limit } = body {
                let a = &o.args[arg - 1];
                let _ = writeln!(
                    s,
                    "        if {n}.len() > {limit} {{\n            \
                     return Err(bad_argument(\"a {n} of at most {limit} bytes on a normal scheduler\"));\n        }}",
                    n = a.name
                );
            }
            for (_, args) in handle_groups(p, o) {
                match args.as_slice() {
                    [a] => {
                        let _ = writeln!(s, "        let mut {n} = lock(&{n}.0)?;", n = a.name);
                    }
                    [a, b] => {
                        let _ = writeln!(
                            s,
                            "        let (mut {a}, mut {b}) = lock_pair(&{a}.0, &{b}.0, \"two different {r}s\")?;",
                            a = a.name,
                            b = b.name,
                            r = a.handle.map_or("", |r| r.name)
                        );
                    }
                    _ => unreachable!(),
                }
            }
            for a in o.args {
                pass.push(match a.handle {
                    Some(_) => format!("&mut *{}", a.name),
                    None => decode_arg(a, true).1,
                });
            }
            let _ = writeln!(s, "        let value = {};", core_call(&path, &pass, o.fallible));
            match body {
                Body::Chunked => s.push_str("        Ok(value)\n"),
                _ => {
                    let _ = writeln!(s, "        Ok::<_, Value>({})", wrap_value(p, o, backend, true));
                }
            }
            s.push_str("    })\n}\n");
        }
    }
    s
}

fn rust_port(p: &Project) -> String {
    let mut s = header_rust(p);
    s.push_str(
        "//! The port's dispatch: a request for each operation of the table the\n\
         //! port offers. Each decodes its arguments, takes its handles from the\n\
         //! engine's maps, calls the function that does the work and returns the\n\
         //! same value as the NIF of the same name. An operation the table marks\n\
         //! `Port::ByHand` goes to the engine's method of its name\n\
         //! (native/port/src/ops.rs); `backend::` functions get the engine and\n\
         //! their handles as they came (native/port/src/backend.rs).\n\n\
         #![allow(unused_imports, clippy::unnecessary_mut_passed, clippy::explicit_auto_deref, clippy::unit_arg)]\n\
         #![allow(clippy::let_unit_value, clippy::useless_conversion, clippy::needless_borrow, clippy::redundant_closure_call)]\n\n\
         use tally_interop::etf::Term;\n\
         use tally_interop::{IntoGleam, Value};\n\n\
         use crate::ops::{arg, binary, held, held_pair, utf8, Engine, OpResult};\n\n\
         impl Engine {\n\
         \x20   /// The reply to a request of the table; `None` for any other.\n\
         \x20   pub(crate) fn dispatch(&mut self, op: &str, args: &[Term]) -> Option<OpResult> {\n\
         \x20       Some(match (op, args) {\n",
    );
    for o in port_ops(p) {
        if o.port == Port::ByHand {
            let _ = writeln!(
                s,
                "            (\"{n}\", args) => return self.{n}(args),",
                n = o.name
            );
            continue;
        }
        let core = o
            .core
            .unwrap_or_else(|| panic!("{}: a port request needs its work named (`core`)", o.name));
        let (path, backend) = work_path(core);
        let names: Vec<&str> = o.args.iter().map(|a| a.name).collect();
        let _ = writeln!(
            s,
            "            (\"{}\", [{}]) => (|| {{",
            o.name,
            names.join(", ")
        );
        let mut body = String::new();
        for a in o.args.iter().filter(|a| a.handle.is_none()) {
            body.push_str(&decode_arg(a, false).0);
        }
        let mut pass = Vec::new();
        if backend {
            pass.push("self".to_string());
            for a in o.args {
                pass.push(match a.handle {
                    Some(_) => a.name.to_string(),
                    None => decode_arg(a, false).1,
                });
            }
        } else {
            for (r, args) in handle_groups(p, o) {
                assert!(
                    !r.rust.is_empty(),
                    "{}: any handle needs a backend function",
                    o.name
                );
                match args.as_slice() {
                    [a] => {
                        let _ = writeln!(
                            body,
                            "        let {n} = held(&mut self.{r}s, {n}, \"a live {r} handle\")?;",
                            n = a.name,
                            r = r.name
                        );
                    }
                    [a, b] => {
                        let _ = writeln!(
                            body,
                            "        let ({a}, {b}) = held_pair(&mut self.{r}s, {a}, {b}, \"two different {r}s\", \"a live {r} handle\")?;",
                            a = a.name,
                            b = b.name,
                            r = r.name
                        );
                    }
                    _ => unreachable!(),
                }
            }
            for a in o.args {
                pass.push(match a.handle {
                    Some(_) => a.name.to_string(),
                    None => decode_arg(a, false).1,
                });
            }
        }
        let _ = writeln!(
            body,
            "        let value = {};",
            core_call(&path, &pass, o.fallible)
        );
        let _ = writeln!(
            body,
            "        Ok::<Value, Value>({})",
            wrap_value(p, o, backend, false)
        );
        for line in body.lines() {
            let _ = writeln!(s, "        {line}");
        }
        s.push_str("            })(),\n");
    }
    s.push_str("            _ => return None,\n        })\n    }\n}\n");
    s
}

// ---------------------------------------------------------------- Gleam API

fn last_segment(module: &str) -> &str {
    module.rsplit('/').next().unwrap_or(module)
}

/// A case arm `pattern -> body` at four spaces: on one line when it fits,
/// else the body on the next line.
fn arm(pattern: &str, body: &str, op: &str) -> String {
    let one = format!("    {pattern} -> {body}\n");
    if one.len() <= WIDTH + 1 {
        return one;
    }
    let next = format!("    {pattern} ->\n      {body}\n");
    assert!(
        next.lines().all(|l| l.len() <= WIDTH),
        "{op}: its API function is too wide to generate; write it in the prelude"
    );
    next
}

fn gleam_api(p: &Project, m: &ApiModule, prelude: &Prelude) -> String {
    let ops: Vec<(&Operation, &str)> = p
        .operations
        .iter()
        .filter_map(|o| o.api.map(|name| (o, name)))
        .filter(|(o, _)| {
            o.args
                .first()
                .and_then(|a| a.handle)
                .is_some_and(|r| r.name == m.resource)
        })
        .collect();
    let no_handle = |r: &str| panic!("an API function's result or argument holds a {r} handle");
    let mut types: Vec<String> = vec![p.gleam_error.to_string()];
    for (o, _) in &ops {
        types.push(o.result.gleam.to_string());
        types.extend(o.args[1..].iter().map(|a| a.gleam_type(no_handle)));
    }
    let mut s = gleam_head(p, prelude, &types);
    let (nif, port) = (last_segment(p.gleam_nif), last_segment(p.gleam_port));
    for (o, name) in ops {
        let first = o.args[0].name;
        let rest: Vec<&str> = o.args[1..].iter().map(|a| a.name).collect();
        let mut params = vec![format!("{first}: {}", m.type_name)];
        params.extend(
            o.args[1..]
                .iter()
                .map(|a| format!("{}: {}", a.name, a.gleam_type(no_handle))),
        );
        let ret = result_type(p, &o.result.gleam_with(no_handle));
        let call = |module: &str, f: &str, h: &str| {
            let mut all = vec![h.to_string()];
            all.extend(rest.iter().map(|r| r.to_string()));
            if module.is_empty() {
                format!("{f}({})", all.join(", "))
            } else {
                format!("{module}.{f}({})", all.join(", "))
            }
        };
        let input = match rest.len() {
            0 => "Nil".to_string(),
            1 => rest[0].to_string(),
            _ => format!("#({})", rest.join(", ")),
        };
        s.push('\n');
        s.push_str(&docs(o.doc));
        s.push_str(&signature(&format!("pub fn {name}"), &params, &ret, " {"));
        let _ = writeln!(s, "\n  case {first} {{");
        s.push_str(&arm("OnNif(a)", &call(nif, o.name, "a"), o.name));
        s.push_str(&arm("OnPort(a)", &call(port, o.name, "a"), o.name));
        s.push_str(&arm("OnGleam(a)", &call("pure", o.name, "a"), o.name));
        let shadow = format!(
            "shadow.compare(\"{name}\", {input}, {}, fn() {{ {} }})",
            call("", name, "a"),
            call("", name, "b")
        );
        s.push_str(&arm("OnShadow(a, b)", &shadow, o.name));
        s.push_str("  }\n}\n");
    }
    s
}

/// The generated adapters' call of the core function: its error, when it
/// can fail, turned into a Gleam value and returned with `?`.
fn core_call(core: &str, pass: &[String], fallible: bool) -> String {
    let call = format!("{core}({})", pass.join(", "));
    if fallible {
        format!("{call}.map_err(IntoGleam::into_gleam)?")
    } else {
        call
    }
}

#[cfg(test)]
mod rust_adapter_tests {
    use super::*;
    use tally_interop::table::Ty;

    const COUNTER: Resource = Resource {
        name: "counter",
        doc: "A counter.",
        rust: "Counter",
        journaled: true,
        port_module: None,
    };

    const fn op(name: &'static str, args: &'static [Arg], result: Ty, core: &'static str) -> Operation {
        Operation {
            name,
            doc: "Does it.",
            args,
            result,
            mutates: true,
            scheduler: Scheduler::Normal,
            nif: true,
            port: Port::Call,
            core: Some(core),
            fallible: false,
            api: None,
        }
    }

    const PAIR: &[Arg] = &[Arg::handle("into", &COUNTER), Arg::handle("from", &COUNTER)];
    const ONE: &[Arg] = &[Arg::handle("counter", &COUNTER)];
    const PATH: &[Arg] = &[Arg::new("path", Ty::STRING)];

    fn project(ops: &'static [Operation]) -> Project<'static> {
        Project {
            operations: ops,
            resources: &[&COUNTER],
            atoms: vec![],
            source: "ops.rs",
            nif_module: "n",
            nif_load: "ok",
            ops_module: "o",
            atoms_module: "a",
            values_module: None,
            records: &[],
            gleam_nif: "x/nif",
            gleam_port: "x/port",
            gleam_modules: &[("store", "x/store")],
            gleam_error: "store.Error",
            gleam_other_port: "store.OnOtherPort",
            erlang_dir: "src",
            gleam_dir: "src",
            nif_rust: Some("nif.rs"),
            port_rust: Some("port.rs"),
            plain: None,
            api: &[],
        }
    }

    const OPS: &[Operation] = &[
        Operation {
            fallible: true,
            ..op("counter_merge", PAIR, Ty::NIL, "store::merge")
        },
        Operation {
            scheduler: Scheduler::Chunked,
            ..op(
                "counter_take",
                ONE,
                Ty::new("List(Int)", "[integer()]"),
                "store::take",
            )
        },
        op(
            "counter_load",
            PATH,
            Ty::new("store.Loaded({counter})", "tuple()"),
            "backend::counter_load",
        ),
        op(
            "counter_new",
            &[],
            Ty::new("{counter}", "reference()"),
            "store::Counter::new",
        ),
        Operation {
            port: Port::ByHand,
            ..op("counter_keep", ONE, Ty::INT, "store::keep")
        },
    ];

    /// Two handles of one resource, a chunked operation, a backend
    /// function, a new handle and a request by hand, as the NIF and the port
    /// get them.
    #[test]
    fn each_kind_of_operation_gets_its_adapters() {
        let p = project(OPS);
        let nif = rust_nif(&p);
        assert!(nif.contains(
            "        let (mut into, mut from) = lock_pair(&into.0, &from.0, \"two different counters\")?;\n        \
             let value = store::merge(&mut *into, &mut *from).map_err(IntoGleam::into_gleam)?;\n"
        ));
        assert!(nif.contains("#[rustler::nif]\nfn counter_take<'a>(env: Env<'a>, counter: ResourceArc<CounterRef>) -> Term<'a> {\n    chunked(env, c\"counter_take\", || {"));
        assert!(nif.contains("#[rustler::nif(schedule = \"DirtyCpu\")]\nfn counter_take_dirty<'a>"));
        assert!(nif.contains(
            "        let value = crate::backend::counter_load(path);\n        Ok::<_, Value>(value)\n"
        ));
        assert!(nif.contains("Ok::<_, Value>(ResourceArc::new(CounterRef(std::sync::Mutex::new(value))))"));
        assert_eq!(
            nif_names(&p),
            [
                "counter_merge",
                "counter_take",
                "counter_take_dirty",
                "counter_load",
                "counter_new",
                "counter_keep"
            ]
        );
        let port = rust_port(&p);
        assert!(port.contains(
            "let (into, from) = held_pair(&mut self.counters, into, from, \"two different counters\", \"a live counter handle\")?;"
        ));
        assert!(port.contains("let value = crate::backend::counter_load(self, path);"));
        assert!(port.contains("self.counters.insert(handle, value);"));
        assert!(port.contains("            (\"counter_keep\", args) => return self.counter_keep(args),\n"));
        assert_eq!(port_names(&p).len(), 5);
    }

    /// A handle inside a record needs a backend function: the generator
    /// cannot make one from a core function's plain value.
    #[test]
    #[should_panic(expected = "a handle inside its result needs a backend function")]
    fn a_handle_inside_a_core_result_is_refused() {
        const BAD: &[Operation] = &[op(
            "counter_load",
            PATH,
            Ty::new("store.Loaded({counter})", "tuple()"),
            "store::load",
        )];
        rust_nif(&project(BAD));
    }
}
