//! The Erlang module of engine values read and made by name: for each
//! custom type the project names (a Gleam type whose constructors have
//! labelled fields, or none), its `-type`, and for each constructor with
//! fields its constructor function, one accessor per field and a shape
//! check. Erlang code outside the generated files reaches engine values
//! through it, never by tuple position, and makes the engine's errors with
//! its constructors (`port_exited(-1)`).

use std::fmt::Write as _;

use crate::gleam_types::{snake, Constructor, GleamType};

/// A record's constructor and fields, or why it cannot be one.
pub fn record<'a>(types: &'a [GleamType], qualified: &str) -> Result<&'a Constructor, String> {
    let t = types
        .iter()
        .find(|t| t.qualified == qualified)
        .ok_or_else(|| format!("{qualified}: no such public type in the project's Gleam modules"))?;
    match t.constructors.as_slice() {
        [c] if c.fields.iter().all(|f| f.label.is_some()) && !c.fields.is_empty() => Ok(c),
        _ => Err(format!(
            "{qualified}: a record needs one constructor with labelled fields"
        )),
    }
}

/// A custom type whose every constructor's fields are labelled.
pub fn custom_type<'a>(types: &'a [GleamType], qualified: &str) -> Result<&'a GleamType, String> {
    let t = types
        .iter()
        .find(|t| t.qualified == qualified)
        .ok_or_else(|| format!("{qualified}: no such public type in the project's Gleam modules"))?;
    if t.constructors.is_empty()
        || t.constructors
            .iter()
            .any(|c| c.fields.iter().any(|f| f.label.is_none()))
    {
        return Err(format!("{qualified}: every constructor's fields need labels"));
    }
    Ok(t)
}

/// The `-spec` type of a Gleam type (type variables and other custom types: `term()`).
pub fn erlang_type(gleam: &str) -> String {
    let g = gleam.trim();
    match g {
        "Int" => "integer()".into(),
        "Float" => "float()".into(),
        "String" | "BitArray" => "binary()".into(),
        "Bool" => "boolean()".into(),
        "Nil" => "nil".into(),
        _ => match g.strip_prefix("List(").and_then(|r| r.strip_suffix(')')) {
            Some(inner) => format!("[{}]", erlang_type(inner)),
            None => "term()".into(),
        },
    }
}

/// A guard on a variable holding a field of type `gleam`, when there is a simple one.
fn check(gleam: &str, var: &str) -> Option<String> {
    match gleam.trim() {
        "Int" => Some(format!("is_integer({var})")),
        "Float" => Some(format!("is_float({var})")),
        "String" | "BitArray" => Some(format!("is_binary({var})")),
        "Bool" => Some(format!("is_boolean({var})")),
        g if g.starts_with("List(") => Some(format!("is_list({var})")),
        _ => None,
    }
}

/// The accessor of `field` of the record tagged `tag`.
pub fn accessor(tag: &str, field: &str) -> String {
    format!("{tag}_{field}")
}

/// The type's name in Erlang: `EngineError` is `engine_error()`.
fn type_name(t: &GleamType) -> String {
    snake(t.qualified.rsplit('.').next().unwrap_or_default())
}

/// The module's text (after the generated-file header).
pub fn module(name: &str, types: &[&GleamType]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "%% @doc Engine values read and made by name. For each type: its `-type`;\n\
         %% for each constructor with fields, its constructor `Tag(Fields...)`, an\n\
         %% accessor `Tag_field/1` per field, and `is_Tag/1`, which checks its\n\
         %% shape (tag, size, the fields' simple types). Erlang code outside the\n\
         %% generated files reaches engine values through these, never by tuple\n\
         %% position.\n\
         -module({name}).\n\n"
    );
    let mut exports = Vec::new();
    let mut type_exports = Vec::new();
    for t in types {
        for c in t.constructors.iter().filter(|c| !c.fields.is_empty()) {
            let tag = c.tag();
            exports.push(format!("{tag}/{}", c.fields.len()));
            exports.push(format!("is_{tag}/1"));
            for f in &c.fields {
                exports.push(format!("{}/1", accessor(&tag, label(f))));
            }
            type_exports.push(format!("{tag}/0"));
        }
        if t.constructors.len() > 1 {
            type_exports.push(format!("{}/0", type_name(t)));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for e in exports.iter().chain(&type_exports) {
        assert!(seen.insert(e.clone()), "{name}: two types would both define {e}");
    }
    let _ = writeln!(s, "-export([{}]).", crate::wrap_list(&exports, 9, 100));
    let _ = writeln!(
        s,
        "-export_type([{}]).\n",
        crate::wrap_list(&type_exports, 14, 100)
    );
    for t in types {
        if t.constructors.len() > 1 {
            let alternatives: Vec<String> = t
                .constructors
                .iter()
                .map(|c| {
                    if c.fields.is_empty() {
                        c.tag()
                    } else {
                        format!("{}()", c.tag())
                    }
                })
                .collect();
            let _ = writeln!(
                s,
                "%% {}\n-type {}() :: {}.\n",
                t.qualified,
                type_name(t),
                alternatives.join("\n    | ")
            );
        }
        for c in t.constructors.iter().filter(|c| !c.fields.is_empty()) {
            s.push_str(&constructor(&t.qualified, c));
        }
    }
    s.truncate(s.trim_end().len());
    s.push('\n');
    s
}

/// One constructor's type, constructor function, shape check and accessors.
fn constructor(qualified: &str, c: &Constructor) -> String {
    let mut s = String::new();
    let tag = c.tag();
    let field_types: Vec<String> = c.fields.iter().map(|f| erlang_type(&f.ty)).collect();
    let vars: Vec<String> = c
        .fields
        .iter()
        .map(|f| tally_interop::table::pascal(label(f)))
        .collect();
    let module = qualified.split('.').next().unwrap_or_default();
    let _ = write!(
        s,
        "%% {module}.{}({})\n-type {tag}() :: {{{tag}, {}}}.\n\n",
        c.name,
        c.fields
            .iter()
            .map(|f| format!("{}: {}", label(f), f.ty))
            .collect::<Vec<_>>()
            .join(", "),
        field_types.join(", ")
    );
    let _ = writeln!(
        s,
        "-spec {tag}({}) -> {tag}().\n{tag}({vs}) ->\n    {{{tag}, {vs}}}.\n",
        field_types.join(", "),
        vs = vars.join(", ")
    );
    let checks: Vec<String> = c
        .fields
        .iter()
        .zip(&vars)
        .filter_map(|(f, v)| check(&f.ty, v))
        .collect();
    let pattern: Vec<String> = c
        .fields
        .iter()
        .zip(&vars)
        .map(|(f, v)| {
            if check(&f.ty, v).is_some() {
                v.clone()
            } else {
                "_".into()
            }
        })
        .collect();
    let body = if checks.is_empty() {
        "true".to_string()
    } else {
        checks.join(" andalso ")
    };
    let _ = writeln!(
        s,
        "-spec is_{tag}(term()) -> boolean().\nis_{tag}({{{tag}, {}}}) ->\n    {body};\nis_{tag}(_) ->\n    false.\n",
        pattern.join(", ")
    );
    for (i, f) in c.fields.iter().enumerate() {
        let pattern: Vec<String> = (0..c.fields.len())
            .map(|j| if i == j { vars[i].clone() } else { "_".into() })
            .collect();
        let _ = writeln!(
            s,
            "-spec {a}({tag}()) -> {}.\n{a}({{{tag}, {}}}) ->\n    {}.\n",
            field_types[i],
            pattern.join(", "),
            vars[i],
            a = accessor(&tag, label(f))
        );
    }
    s
}

fn label(f: &crate::gleam_types::Field) -> &str {
    f.label.as_deref().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gleam_types::parse;

    #[test]
    fn a_record_gets_its_type_constructor_accessors_and_check() {
        let types = parse(
            "billing",
            "pub type WrittenBatch {\n  WrittenBatch(count: Int, ids: BitArray, lines: List(String), owner: a)\n}\n\
             pub type Money {\n  Money(Int)\n}\n",
        );
        record(&types, "billing.WrittenBatch").unwrap();
        let text = module("values", &[custom_type(&types, "billing.WrittenBatch").unwrap()]);
        assert!(text
            .contains("-type written_batch() :: {written_batch, integer(), binary(), [binary()], term()}."));
        assert!(text.contains(
            "written_batch(Count, Ids, Lines, Owner) ->\n    {written_batch, Count, Ids, Lines, Owner}."
        ));
        assert!(text.contains("written_batch_ids({written_batch, _, Ids, _, _}) ->\n    Ids."));
        assert!(text.contains(
            "is_written_batch({written_batch, Count, Ids, Lines, _}) ->\n    is_integer(Count) andalso is_binary(Ids) andalso is_list(Lines);\nis_written_batch(_) ->\n    false."
        ));
        assert!(record(&types, "billing.Money").is_err());
        assert!(record(&types, "billing.Nope").is_err());
        assert!(custom_type(&types, "billing.Money").is_err());
    }

    #[test]
    fn a_type_of_several_constructors_gets_each_one_and_their_union() {
        let types = parse(
            "engine",
            "pub type EngineError {\n  NativePanic(message: String)\n  Timeout\n  SnapshotFailed(path: String, reason: String)\n}\n",
        );
        let text = module("values", &[custom_type(&types, "engine.EngineError").unwrap()]);
        assert!(
            text.contains("-type engine_error() :: native_panic()\n    | timeout\n    | snapshot_failed().")
        );
        assert!(text.contains("native_panic(Message) ->\n    {native_panic, Message}."));
        assert!(text.contains("snapshot_failed_reason({snapshot_failed, _, Reason}) ->\n    Reason."));
        assert!(text.contains("-export_type([native_panic/0, snapshot_failed/0, engine_error/0])."));
    }
}
