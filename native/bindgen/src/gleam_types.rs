//! The custom types of a project's Gleam modules, read from their source:
//! each constructor's name and labelled fields. The generator writes Erlang
//! accessors (`values`) and the port's handle wrapping from them, so a
//! record's fields are named in one place, its Gleam definition, as in the
//! `.hrl` records `gleam build` writes (which Erlang FFI cannot include in
//! every build: gleam 1.x compiles it without an include path).

use std::path::Path;

/// One `pub type` of a Gleam module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GleamType {
    /// `usage.Loaded`: the module's alias in the project and the type's name.
    pub qualified: String,
    pub params: Vec<String>,
    pub constructors: Vec<Constructor>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constructor {
    pub name: String,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub label: Option<String>,
    /// The Gleam type as written (`List(batch)`, `event.ParseStats`).
    pub ty: String,
}

impl Constructor {
    /// The atom tagging its values: the name in snake_case (Gleam's rule:
    /// every capital starts a word).
    pub fn tag(&self) -> String {
        snake(&self.name)
    }
}

/// `WrittenBatch` to `written_batch`, `S3AccessLog` to `s3_access_log`.
pub fn snake(pascal: &str) -> String {
    let mut out = String::new();
    for (i, c) in pascal.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The `pub type`s of the modules `(alias, path)` under `root/dir`; a
/// module without a file is skipped (its types are not records the
/// generator reads).
pub fn read(root: &Path, dir: &str, modules: &[(&str, &str)]) -> std::io::Result<Vec<GleamType>> {
    let mut out = Vec::new();
    for (alias, path) in modules {
        let file = root.join(dir).join(format!("{path}.gleam"));
        match std::fs::read_to_string(&file) {
            Ok(text) => out.extend(parse(alias, &text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The public, non-opaque custom types of one module's source.
pub fn parse(alias: &str, source: &str) -> Vec<GleamType> {
    let text: String = source
        .lines()
        .map(|l| match l.find("//") {
            Some(at) if !in_string(&l[..at]) => &l[..at],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("pub type ") {
        let after = &rest[at + "pub type ".len()..];
        let Some(open) = after.find('{') else { break };
        let head = after[..open].trim();
        // An alias (`pub type A = B`) or an external type (no body): no constructors.
        if head.contains('=') || head.contains("\n\n") || head.contains("pub ") {
            rest = after;
            continue;
        }
        let Some(close) = matching(&after[open..], '{', '}').map(|c| open + c) else {
            break;
        };
        let (name, params) = match head.find('(') {
            Some(p) => (
                head[..p].trim(),
                split_top(head[p + 1..].trim_end_matches(')'))
                    .into_iter()
                    .map(|s| s.trim().to_string())
                    .collect(),
            ),
            None => (head, Vec::new()),
        };
        out.push(GleamType {
            qualified: format!("{alias}.{name}"),
            params,
            constructors: constructors(&after[open + 1..close]),
        });
        rest = &after[close + 1..];
    }
    out
}

fn in_string(s: &str) -> bool {
    s.matches('"').count() % 2 == 1
}

/// The index of the bracket closing the one `s` starts with.
fn matching(s: &str, open: char, close: char) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// Splits at the commas outside brackets, dropping empty pieces (a trailing comma).
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

fn constructors(body: &str) -> Vec<Constructor> {
    let mut out = Vec::new();
    let mut rest = body.trim_start();
    while let Some(first) = rest.chars().next() {
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 || !first.is_ascii_uppercase() {
            // Not a constructor (an attribute or stray text): skip a character.
            rest = rest[first.len_utf8()..].trim_start();
            continue;
        }
        let name = rest[..end].to_string();
        rest = &rest[end..];
        let mut fields = Vec::new();
        if rest.starts_with('(') {
            let close = matching(rest, '(', ')').unwrap_or(rest.len() - 1);
            fields = split_top(&rest[1..close])
                .into_iter()
                .map(|f| match f.split_once(':') {
                    Some((label, ty)) => Field {
                        label: Some(label.trim().to_string()),
                        ty: ty.trim().to_string(),
                    },
                    None => Field {
                        label: None,
                        ty: f.trim().to_string(),
                    },
                })
                .collect();
            rest = &rest[close + 1..];
        }
        out.push(Constructor { name, fields });
        rest = rest.trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_enums_and_generic_types_are_read() {
        let src = "import tally/event\n\n/// Docs (with a `pub type Fake {` in them).\npub type Loaded(aggregator) {\n  Loaded(aggregator: aggregator, extra: BitArray)\n}\n\n\
                   pub type Window {\n  Hour // one hour\n  Day\n}\n\npub opaque type Hidden {\n  Hidden(x: Int)\n}\n\n\
                   pub type Key =\n  #(String, Int)\n\npub type Ref\n\n\
                   pub type FeedResult {\n  FeedResult(\n    stats: event.ParseStats,\n    rejects: List(#(Int, String)),\n  )\n}\n\
                   pub fn f() { Nil }\n";
        let types = parse("usage", src);
        assert_eq!(
            types.iter().map(|t| t.qualified.as_str()).collect::<Vec<_>>(),
            ["usage.Loaded", "usage.Window", "usage.FeedResult"]
        );
        assert_eq!(types[0].params, ["aggregator"]);
        let loaded = &types[0].constructors[0];
        assert_eq!(loaded.tag(), "loaded");
        assert_eq!(loaded.fields[1].label.as_deref(), Some("extra"));
        assert_eq!(loaded.fields[1].ty, "BitArray");
        assert_eq!(
            types[1]
                .constructors
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["Hour", "Day"]
        );
        let feed = &types[2].constructors[0];
        assert_eq!(feed.fields.len(), 2);
        assert_eq!(feed.fields[1].ty, "List(#(Int, String))");
        assert_eq!(snake("S3AccessLog"), "s3_access_log");
        assert_eq!(snake("WrittenBatch"), "written_batch");
    }
}
