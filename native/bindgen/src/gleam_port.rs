//! The Gleam bindings of the port: one typed function per request, from
//! the table. Handles become the port's own opaque types (the port and the
//! handle), handles inside a result record are wrapped where the record's
//! Gleam definition puts them ([`crate::gleam_types`]), a resource the caller
//! holds as an Erlang term (`Resource::port_module`) goes through that
//! module's `call/3`, and a `Port::Free` request gives `<resource>_release`.
//!
//! The prelude (`port.gleam.in`) keeps what is not per operation: the
//! `Port` type (with a field `ref`), starting and stopping the port,
//! `same_port(Port, Port) -> Bool`, and `owner_call(ref, Request, args)`,
//! the external that sends `{Op, ArgsTuple}` to the port's owner.

use std::fmt::Write as _;

use tally_interop::table::{pascal, Arg, Operation, Port, Resource};

use crate::gleam_types::GleamType;
use crate::{
    arm, docs, gleam_head, handle_record, let_tuple, port_ops, result_type, signature, summary,
    used_resources, Prelude, Project, WIDTH,
};

fn handle_type(r: &str) -> String {
    format!("Port{}", pascal(r))
}

/// The Erlang term a `port_module` resource is held as.
fn term_type(r: &Resource) -> String {
    format!("{}Term", r.pascal())
}

/// The external through which requests on `module`'s resources go.
fn module_call(module: &str) -> String {
    format!("{module}_call")
}

/// The list helper wrapping a list of `r`'s handles.
fn list_helper(r: &Resource) -> String {
    format!("{}_list", r.name)
}

pub(crate) fn module(p: &Project, prelude: &Prelude, types: &[GleamType]) -> String {
    let ops: Vec<&Operation> = port_ops(p)
        .filter(|o| matches!(o.port, Port::Call | Port::ByHand))
        .collect();
    let frees: Vec<&Operation> = port_ops(p).filter(|o| o.port == Port::Free).collect();
    let requests: Vec<&Operation> = port_ops(p)
        .filter(|o| matches!(o.port, Port::Call | Port::ByHand | Port::Free))
        .collect();
    let mut type_names: Vec<String> = vec![p.gleam_error.to_string(), p.gleam_other_port.to_string()];
    for o in &ops {
        type_names.push(o.result.gleam.to_string());
        type_names.extend(o.args.iter().map(|a| a.gleam_type(handle_type)));
    }
    let mut s = gleam_head(p, prelude, &type_names);
    let held = used_resources(p, &ops);
    for r in &held {
        let t = handle_type(r.name);
        let inner = match r.port_module {
            None => "Int".to_string(),
            Some(_) => term_type(r),
        };
        let _ = write!(
            s,
            "\n/// {} held by a port.\npub opaque type {t} {{\n  {t}(port: Port, handle: {inner})\n}}\n",
            r.doc.trim_end_matches('.')
        );
        if let Some(m) = r.port_module {
            let _ = write!(
                s,
                "\n/// The {} as `{m}` holds it: an Erlang term only that module reads.\ntype {}\n",
                r.name,
                term_type(r)
            );
        }
        let _ = write!(
            s,
            "\n/// The port the {n} lives on.\npub fn {n}_port({n}: {t}) -> Port {{\n  {n}.port\n}}\n",
            n = r.name
        );
    }
    let _ = write!(
        s,
        "\n/// The port's requests: each constructor is the atom the port reads.\npub type Request {{\n"
    );
    for o in &requests {
        let _ = writeln!(s, "  {}", pascal(o.name));
    }
    s.push_str("}\n");
    let mut lists: Vec<&Resource> = Vec::new();
    for o in ops {
        s.push('\n');
        s.push_str(&function(p, o, types, &mut lists));
    }
    for o in frees {
        for r in held.iter().filter(|r| r.journaled && r.port_module.is_none()) {
            s.push('\n');
            s.push_str(&release(p, o, r));
        }
    }
    for r in &lists {
        let t = handle_type(r.name);
        let _ = write!(
            s,
            "\nfn {}(port: Port, handles: List({})) -> List({t}) {{\n  list_map(fn(handle) {{ {t}(port: port, handle: handle) }}, handles)\n}}\n",
            list_helper(r),
            term_or_int(r)
        );
    }
    if !lists.is_empty() {
        s.push_str(
            "\n@external(erlang, \"lists\", \"map\")\nfn list_map(with: fn(a) -> b, list: List(a)) -> List(b)\n",
        );
    }
    let mut modules: Vec<&str> = held.iter().filter_map(|r| r.port_module).collect();
    modules.dedup();
    for m in modules {
        let _ = write!(
            s,
            "\n/// The request `op` with `args` through `{m}`, which holds these\n/// values for the port's caller.\n@external(erlang, \"{m}\", \"call\")\nfn {}(\n  ref: ref,\n  op: Request,\n  args: args,\n) -> {}\n",
            module_call(m),
            result_type(p, "a")
        );
    }
    s
}

fn term_or_int(r: &Resource) -> String {
    match r.port_module {
        Some(_) => term_type(r),
        None => "Int".into(),
    }
}

/// `<resource>_release`: the free request on one resource's handle.
fn release(p: &Project, o: &Operation, r: &Resource) -> String {
    let n = r.name;
    let mut s = docs(&format!(
        "Frees the {n} in the port (the port's `{}` request).",
        o.name
    ));
    s.push_str(&signature(
        &format!("pub fn {n}_release"),
        &[format!("{n}: {}", handle_type(n))],
        &result_type(p, "Nil"),
        " {",
    ));
    let _ = write!(
        s,
        "\n  owner_call({n}.port.ref, {}, #({n}.handle))\n}}\n",
        pascal(o.name)
    );
    s
}

fn function<'r>(
    p: &Project<'r>,
    o: &Operation,
    types: &[GleamType],
    lists: &mut Vec<&'r Resource>,
) -> String {
    let handles: Vec<&Arg> = o.args.iter().filter(|a| a.handle.is_some()).collect();
    let mut params: Vec<String> = Vec::new();
    let on = match handles.first() {
        Some(h) => format!("{}.port", h.name),
        None => {
            params.push("port: Port".to_string());
            "port".to_string()
        }
    };
    params.extend(
        o.args
            .iter()
            .map(|a| format!("{}: {}", a.name, a.gleam_type(handle_type))),
    );
    let ret = result_type(p, &o.result.gleam_with(handle_type));
    let items: Vec<String> = o
        .args
        .iter()
        .map(|a| match a.handle {
            Some(_) => format!("{}.handle", a.name),
            None => a.name.to_string(),
        })
        .collect();
    // Requests on a resource held as a term go through its module.
    let mut via: Vec<&str> = o
        .args
        .iter()
        .filter_map(|a| a.handle.and_then(|r| r.port_module))
        .chain(o.result.resources().into_iter().filter_map(|name| {
            p.resources
                .iter()
                .find(|r| r.name == name)
                .and_then(|r| r.port_module)
        }))
        .collect();
    via.dedup();
    assert!(
        via.len() <= 1,
        "{}: its resources are held by different modules",
        o.name
    );
    let caller = via.first().map_or("owner_call".to_string(), |m| module_call(m));
    let doc = format!("{}\n\nThe port's twin of `nif.{}`.", summary(o.doc), o.name);
    let mut s = docs(&doc);
    s.push_str(&signature(&format!("pub fn {}", o.name), &params, &ret, " {"));
    s.push('\n');
    s.push_str(&let_tuple("args", &items));
    let request = call_line(&caller, &on, &pascal(o.name));
    let resource = |name: &str| -> &'r Resource {
        p.resources
            .iter()
            .copied()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{}: unknown resource {name}", o.name))
    };
    let call = match o.creates() {
        Some(r) if o.result.gleam == format!("{{{r}}}") => format!(
            "case {request} {{\n    Ok(handle) -> Ok({t}(port: {on}, handle: handle))\n    Error(e) -> Error(e)\n  }}",
            t = handle_type(r)
        ),
        Some(r) => {
            let h = handle_record(types, o.result.gleam, r).unwrap_or_else(|| {
                panic!(
                    "{}: the result {} holds a {r} handle in no field of a known record",
                    o.name, o.result.gleam
                )
            });
            let module = h.qualified.split('.').next().unwrap_or_default();
            let ctor = format!("{module}.{}", h.constructor.name);
            let vars: Vec<&str> = h
                .constructor
                .fields
                .iter()
                .map(|f| f.label.as_deref().unwrap_or_default())
                .collect();
            assert!(
                !vars.iter().any(|v| ["port", "args", "e", "handle"].contains(v)),
                "{}: a field of {} shadows a name of the binding",
                o.name,
                h.qualified
            );
            let field = vars[h.field];
            let wrapped = if h.list {
                let res = resource(r);
                if !lists.iter().any(|l| l.name == res.name) {
                    lists.push(res);
                }
                format!("{}({on}, {field})", list_helper(res))
            } else {
                format!("{}(port: {on}, handle: {field})", handle_type(r))
            };
            format!(
                "case {request} {{\n    Ok({ctor}({all})) -> {{\n      let {field} = {wrapped}\n      Ok({ctor}({all}))\n    }}\n    Error(e) -> Error(e)\n  }}",
                all = vars.join(", ")
            )
        }
        None => request,
    };
    if handles.len() > 1 {
        let first = handles[0].name;
        let checks: Vec<String> = handles[1..]
            .iter()
            .map(|h| format!("same_port({first}.port, {}.port)", h.name))
            .collect();
        let other = handles[1..].iter().map(|h| h.name).collect::<Vec<_>>().join(", ");
        // A one-line call goes on the next line when too wide, as gleam format does.
        let on_true = if call.contains('\n') {
            format!("    True -> {}\n", call.replace('\n', "\n  "))
        } else {
            arm("True", &call, o.name)
        };
        let _ = write!(
            s,
            "  case {} {{\n{on_true}    False -> Error({}(\"{other}\"))\n  }}\n}}\n",
            checks.join(" && "),
            p.gleam_other_port
        );
    } else {
        let _ = write!(s, "  {call}\n}}\n");
    }
    s
}

/// `caller(on.ref, Request, args)`, on one line when it fits.
fn call_line(caller: &str, on: &str, request: &str) -> String {
    let one = format!("{caller}({on}.ref, {request}, args)");
    if one.len() + 6 <= WIDTH {
        one
    } else {
        format!("{caller}(\n    {on}.ref,\n    {request},\n    args,\n  )")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gleam_types::parse;
    use tally_interop::table::{Scheduler, Ty};

    const COUNTER: Resource = Resource {
        name: "counter",
        doc: "A counter.",
        rust: "Counter",
        journaled: true,
        port_module: None,
    };
    const BLOB: Resource = Resource {
        name: "blob",
        doc: "A blob.",
        rust: "Blob",
        journaled: false,
        port_module: Some("blob_keeper"),
    };
    const ANY: Resource = Resource {
        name: "handle",
        doc: "Any handle.",
        rust: "",
        journaled: true,
        port_module: None,
    };

    const fn op(name: &'static str, args: &'static [Arg], result: Ty, port: Port) -> Operation {
        Operation {
            name,
            doc: "Does it.",
            args,
            result,
            mutates: true,
            scheduler: Scheduler::Normal,
            nif: true,
            port,
            core: None,
            fallible: false,
            api: None,
        }
    }

    const OPS: &[Operation] = &[
        op(
            "counter_load",
            &[Arg::new("path", Ty::STRING)],
            Ty::new("store.Loaded({counter})", "tuple()"),
            Port::Call,
        ),
        op(
            "blob_split",
            &[Arg::handle("counter", &COUNTER)],
            Ty::new("store.Split({blob})", "tuple()"),
            Port::Call,
        ),
        op(
            "blob_apply",
            &[Arg::handle("counter", &COUNTER), Arg::handle("blob", &BLOB)],
            Ty::INT,
            Port::Call,
        ),
        op("free", &[Arg::handle("handle", &ANY)], Ty::NIL, Port::Free),
    ];

    fn generate() -> String {
        let project = Project {
            operations: OPS,
            resources: &[&COUNTER, &BLOB],
            atoms: vec![],
            source: "ops.rs",
            nif_module: "n",
            nif_load: "ok",
            ops_module: "o",
            atoms_module: "a",
            values_module: Some("v"),
            records: &[],
            gleam_nif: "x/nif",
            gleam_port: "x/port",
            gleam_modules: &[("store", "x/store")],
            gleam_error: "store.Error",
            gleam_other_port: "store.OnOtherPort",
            erlang_dir: "src",
            gleam_dir: "src",
            nif_rust: None,
            port_rust: None,
            plain: None,
            api: &[],
        };
        let types = parse(
            "store",
            "pub type Loaded(c) {\n  Loaded(counter: c, extra: BitArray)\n}\n\
             pub type Split(b) {\n  Split(blobs: List(b), count: Int)\n}\n",
        );
        module(&project, &crate::Prelude::default(), &types)
    }

    #[test]
    fn handles_in_records_are_wrapped_where_the_type_puts_them() {
        let text = generate();
        assert!(text.contains(
            "    Ok(store.Loaded(counter, extra)) -> {\n      let counter = PortCounter(port: port, handle: counter)\n      Ok(store.Loaded(counter, extra))\n    }"
        ));
        assert!(text.contains(
            "    Ok(store.Split(blobs, count)) -> {\n      let blobs = blob_list(counter.port, blobs)\n"
        ));
    }

    #[test]
    fn a_term_held_resource_goes_through_its_module() {
        let text = generate();
        assert!(text.contains("pub opaque type PortBlob {\n  PortBlob(port: Port, handle: BlobTerm)\n}"));
        assert!(text.contains("blob_keeper_call(counter.port.ref, BlobSplit, args)"));
        assert!(text.contains("    True -> blob_keeper_call(counter.port.ref, BlobApply, args)\n"));
        assert!(text.contains("@external(erlang, \"blob_keeper\", \"call\")\nfn blob_keeper_call("));
        // Loading a counter is the owner's generic call.
        assert!(text.contains("case owner_call(port.ref, CounterLoad, args) {"));
    }

    #[test]
    fn a_free_request_gives_one_release_per_journaled_resource() {
        let text = generate();
        assert!(text.contains(
            "pub fn counter_release(counter: PortCounter) -> Result(Nil, store.Error) {\n  owner_call(counter.port.ref, Free, #(counter.handle))\n}"
        ));
        assert!(!text.contains("blob_release"));
        assert!(text.contains("pub fn blob_port(blob: PortBlob) -> Port {"));
        assert!(text.contains("  Free\n}"));
    }
}
