//! Adapters for a project whose operations hold no state between calls (no
//! handles), as `examples/interop_example` is: the NIF functions, the
//! port's `call` (what `tally_interop::port::serve` runs per request), and
//! the Gleam functions that pick the NIF or a port per call. Each
//! operation's `core` function does the work; its arguments are decoded
//! with `FromGleam` (`&str` and `&[u8]` as `String` and `BitArray`), its
//! result encoded with `IntoGleam`.

use std::fmt::Write as _;

use tally_interop::table::{Arg, Operation, Port, Scheduler};

use crate::{
    comment, docs, gleam_head, header_rust, last_segment, result_type, signature, summary, Prelude, Project,
};

/// Where the plain adapters go.
pub struct PlainAdapters<'a> {
    /// The NIF crate's generated module (`#[rustler::nif]` functions).
    pub nif: &'a str,
    /// The port crate's generated module (`pub fn call`).
    pub port: &'a str,
    /// The Gleam module whose functions pick the backend per call: its
    /// prelude (`<module>.gleam.in`) defines `Backend` with the
    /// constructors `Nif` and `Port(port.Port)`, and imports the NIF and
    /// port modules.
    pub gleam: &'a str,
}

fn plain_ops<'p>(p: &'p Project) -> impl Iterator<Item = (&'p Operation, &'static str)> {
    p.operations.iter().filter_map(|o| {
        let core = o.core?;
        assert!(
            o.args.iter().all(|a| a.handle.is_none()) && o.creates().is_none(),
            "{}: plain adapters hold no handles",
            o.name
        );
        Some((o, core))
    })
}

/// The owned type an argument decodes to, and how the core function takes it.
fn owned(a: &Arg) -> (String, String) {
    match a.ty.rust {
        "&str" => ("String".into(), format!("&{}", a.name)),
        "&[u8]" => ("tally_interop::BitArray".into(), format!("&{}.0", a.name)),
        "" => panic!("argument {}: its Ty has no Rust type (`.rust(..)`)", a.name),
        ty => (ty.to_string(), a.name.to_string()),
    }
}

fn call_core(o: &Operation, core: &str) -> String {
    let pass: Vec<String> = o.args.iter().map(|a| owned(a).1).collect();
    let call = format!("{core}({})", pass.join(", "));
    if o.fallible {
        format!("Ok({call}.map_err(IntoGleam::into_gleam)?.into_gleam())")
    } else {
        format!("Ok({call}.into_gleam())")
    }
}

/// The NIF crate's module: one `#[rustler::nif]` per operation with a core function.
pub(crate) fn rust_nif(p: &Project) -> String {
    let mut s = header_rust(p);
    s.push_str(
        "//! The NIFs, from the operation table: each decodes its arguments, calls\n\
         //! its core function and returns `{ok, V}` / `{error, E}` through `guarded`\n\
         //! (a panic is `{error, {native_panic, Message}}`).\n\n\
         use rustler::{Env, Term};\n\
         use tally_interop::nif::{from_gleam, guarded};\n\
         use tally_interop::{IntoGleam, Value};\n",
    );
    for (o, core) in plain_ops(p).filter(|(o, _)| o.nif) {
        let attr = match o.scheduler {
            Scheduler::Normal => "#[rustler::nif]",
            Scheduler::DirtyCpu => "#[rustler::nif(schedule = \"DirtyCpu\")]",
            Scheduler::DirtyIo => "#[rustler::nif(schedule = \"DirtyIo\")]",
            _ => panic!("{}: plain adapters run on a normal or a dirty scheduler", o.name),
        };
        let params: Vec<String> = std::iter::once("env: Env<'a>".to_string())
            .chain(o.args.iter().map(|a| format!("{}: Term<'a>", a.name)))
            .collect();
        let _ = write!(
            s,
            "\n{}\n{attr}\nfn {}<'a>({}) -> Term<'a> {{\n    guarded(env, || {{\n",
            comment(&summary(o.doc), "/// "),
            o.name,
            params.join(", ")
        );
        for a in o.args {
            let _ = writeln!(
                s,
                "        let {n}: {} = from_gleam({n})?;",
                owned(a).0,
                n = a.name
            );
        }
        let _ = writeln!(
            s,
            "        {}",
            call_core(o, core).replacen("Ok(", "Ok::<Value, Value>(", 1)
        );
        s.push_str("    })\n}\n");
    }
    s
}

/// The port crate's module: `call`, the handler `tally_interop::port::serve` runs.
pub(crate) fn rust_port(p: &Project) -> String {
    let mut s = header_rust(p);
    s.push_str(
        "//! The port's requests, from the operation table: `call` decodes a\n\
         //! request's arguments, calls the core function and gives the same value\n\
         //! as the NIF of the same name; `None` for a request it does not know.\n\n\
         use tally_interop::etf::Term;\n\
         use tally_interop::{FromGleam, IntoGleam, Value};\n\n\
         /// The reply to the request `op` with `args`.\n\
         pub fn call(op: &str, args: &[Term]) -> Option<Result<Value, Value>> {\n\
         \x20   Some(match (op, args) {\n",
    );
    for (o, core) in plain_ops(p).filter(|(o, _)| o.port == Port::Call) {
        let names: Vec<&str> = o.args.iter().map(|a| a.name).collect();
        let _ = writeln!(s, "        (\"{}\", [{}]) => (|| {{", o.name, names.join(", "));
        for a in o.args {
            let _ = writeln!(
                s,
                "            let {n} = <{}>::from_gleam({n}).map_err(IntoGleam::into_gleam)?;",
                owned(a).0,
                n = a.name
            );
        }
        let _ = writeln!(s, "            {}", call_core(o, core));
        s.push_str("        })(),\n");
    }
    s.push_str("        _ => return None,\n    })\n}\n");
    s
}

/// The Gleam module that picks the backend per call.
pub(crate) fn gleam(p: &Project, prelude: &Prelude) -> String {
    let ops: Vec<&Operation> = p
        .operations
        .iter()
        .filter(|o| o.nif && o.port == Port::Call && o.args.iter().all(|a| a.handle.is_none()))
        .collect();
    let no_handle = |r: &str| panic!("a plain operation holds a {r} handle");
    let mut types: Vec<String> = vec![p.gleam_error.to_string()];
    for o in &ops {
        types.push(o.result.gleam.to_string());
        types.extend(o.args.iter().map(|a| a.gleam_type(no_handle)));
    }
    let mut s = gleam_head(p, prelude, &types);
    let (nif, port) = (last_segment(p.gleam_nif), last_segment(p.gleam_port));
    for o in ops {
        let mut params = vec!["on backend: Backend".to_string()];
        params.extend(
            o.args
                .iter()
                .map(|a| format!("{n} {n}: {}", a.gleam_type(no_handle), n = a.name)),
        );
        let names: Vec<&str> = o.args.iter().map(|a| a.name).collect();
        let ret = result_type(p, &o.result.gleam_with(no_handle));
        s.push('\n');
        s.push_str(&docs(&format!(
            "{}\n\nOn the NIF (`{nif}.{n}`) or a port (`{port}.{n}`).",
            o.doc,
            n = o.name
        )));
        s.push_str(&signature(&format!("pub fn {}", o.name), &params, &ret, " {"));
        let mut on_port = vec!["p"];
        on_port.extend(&names);
        let _ = write!(
            s,
            "\n  case backend {{\n    Nif -> {nif}.{n}({})\n    Port(p) -> {port}.{n}({})\n  }}\n}}\n",
            names.join(", "),
            on_port.join(", "),
            n = o.name
        );
    }
    s
}
