//! The operation table: one definition per engine operation, from which
//! `tally_bindgen` writes the bindings (Erlang NIF stubs with `-spec`, the
//! port journal's classes, the atom vocabulary, Gleam externals for the NIF
//! and the port). A project describes its operations once as a `&[Operation]`
//! and its handle kinds as [`Resource`]s; nothing here depends on tally.
//!
//! Types are written once per language: a [`Ty`] holds its Gleam type and
//! its Erlang `-spec` type. In a Gleam type, `{name}` stands for the handle of
//! the resource `name` and becomes the binding's own handle type
//! (`NifAggregator`, `PortAggregator`, or `Int` inside the port).
//!
//! ```
//! use tally_interop::table::{Arg, Operation, Port, Resource, Scheduler, Ty};
//! const COUNTER: Resource = Resource { name: "counter", doc: "A counter.", rust: "Counter", journaled: true, port_module: None };
//! const OPS: &[Operation] = &[Operation {
//!     name: "counter_bump",
//!     doc: "Adds `by` to the counter; returns the new count.",
//!     args: &[Arg::handle("counter", &COUNTER), Arg::new("by", Ty::INT)],
//!     result: Ty::INT,
//!     mutates: true,
//!     scheduler: Scheduler::Normal,
//!     nif: true,
//!     port: Port::Call,
//!     core: Some("Counter::bump"),
//!     fallible: false,
//!     api: Some("bump"),
//! }];
//! assert_eq!(OPS[0].handle_positions(), vec![1]);
//! ```

/// Where a NIF runs. A NIF on a normal scheduler must return within 1 ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduler {
    /// Small, bounded work.
    Normal,
    /// Work that grows with the input: a dirty CPU scheduler.
    DirtyCpu,
    /// Blocking file or network I/O: a dirty I/O scheduler.
    DirtyIo,
    /// Normal while the binary argument `arg` (1-based) is at most `limit`
    /// bytes, else its dirty CPU twin: the Erlang stub picks
    /// `<name>_normal` or `<name>_dirty` by size.
    SplitAt { arg: usize, limit: usize },
    /// A normal scheduler, in slices: for work whose core call is small but
    /// whose result is a list that may be long (the events `take_late`
    /// hands over). The core function returns a `Vec` of `IntoGleam` items;
    /// the NIF encodes it from the back in slices of about 1 ms
    /// (`enif_consume_timeslice`) and reschedules itself
    /// (`enif_schedule_nif`) between slices, so no call holds a normal
    /// scheduler longer (`nif::chunked`, feature `nif`). Its dirty CPU
    /// twin `<name>_dirty` gives the same list in one call (for tests).
    Chunked,
}

/// A kind of state the engine holds for its caller: a resource in the NIF
/// (an opaque reference), an integer handle in the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// snake_case; `aggregator` gives `NifAggregator`, `PortAggregator`.
    pub name: &'static str,
    pub doc: &'static str,
    /// The Rust type it holds (`tally_core::aggregate::Aggregator`); the NIF
    /// keeps it as `<Name>Ref(Mutex<T>)`, the port in `Engine::<name>s`.
    pub rust: &'static str,
    /// Whether the port's owner journals it and maps its handles across
    /// port restarts (false for short-lived values the owner never replays).
    pub journaled: bool,
    /// How the port's caller holds it. `None`: an integer handle, every
    /// request through the owner's generic call. `Some(module)`: a term the
    /// Erlang `module` makes and reads (a batch with the recipe that makes
    /// it again), so each request that takes or returns one goes through
    /// `module:call(Ref, Op, Args)` instead.
    pub port_module: Option<&'static str>,
}

impl Resource {
    /// `PascalCase` of the name.
    pub fn pascal(&self) -> String {
        pascal(self.name)
    }
}

/// A type on both sides of the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ty {
    /// The Gleam type, `{resource}` for a handle.
    pub gleam: &'static str,
    /// The Erlang `-spec` type (handles are `reference()` in the NIF).
    pub erlang: &'static str,
    /// The Rust type a core function takes (`&str`, `&[u8]`, or any
    /// `FromGleam` type), for the generated NIF and port adapters.
    pub rust: &'static str,
}

impl Ty {
    pub const INT: Ty = Ty::new("Int", "integer()").rust("i64");
    pub const STRING: Ty = Ty::new("String", "binary()").rust("&str");
    pub const BIT_ARRAY: Ty = Ty::new("BitArray", "binary()").rust("&[u8]");
    pub const NIL: Ty = Ty::new("Nil", "nil").rust("()");
    pub const BOOL: Ty = Ty::new("Bool", "boolean()").rust("bool");

    pub const fn new(gleam: &'static str, erlang: &'static str) -> Ty {
        Ty {
            gleam,
            erlang,
            rust: "",
        }
    }

    /// The same with its Rust type.
    pub const fn rust(self, rust: &'static str) -> Ty {
        Ty { rust, ..self }
    }

    /// The Gleam type with each `{resource}` replaced by `handle(resource)`.
    pub fn gleam_with(&self, handle: impl Fn(&str) -> String) -> String {
        let mut out = String::new();
        let mut rest = self.gleam;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..].find('}').map(|c| open + c).unwrap_or(rest.len() - 1);
            out.push_str(&handle(&rest[open + 1..close]));
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        out
    }

    /// Names the resources whose handles this type holds.
    pub fn resources(&self) -> Vec<&'static str> {
        let mut found = Vec::new();
        let mut rest = self.gleam;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}').map(|c| open + c) else {
                break;
            };
            found.push(&rest[open + 1..close]);
            rest = &rest[close + 1..];
        }
        found
    }
}

/// One argument of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arg {
    /// snake_case; the Gleam label and the Erlang variable (in PascalCase).
    pub name: &'static str,
    pub ty: Ty,
    /// The handle of this resource, when the argument is one.
    pub handle: Option<&'static Resource>,
}

impl Arg {
    pub const fn new(name: &'static str, ty: Ty) -> Arg {
        Arg {
            name,
            ty,
            handle: None,
        }
    }

    /// A handle of `resource` (a reference in the NIF, an integer in the port).
    pub const fn handle(name: &'static str, resource: &'static Resource) -> Arg {
        Arg {
            name,
            ty: Ty::new("{}", "reference()"),
            handle: Some(resource),
        }
    }

    /// The Gleam type, with `handle(resource)` for a handle.
    pub fn gleam_type(&self, handle: impl Fn(&str) -> String) -> String {
        match self.handle {
            Some(r) => handle(r.name),
            None => self.ty.gleam_with(handle),
        }
    }
}

/// One engine operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// snake_case: the NIF's name, the port's request atom, the Gleam function.
    pub name: &'static str,
    /// What it does, for the `///` and `%%` docs (Markdown, may span lines).
    pub doc: &'static str,
    pub args: &'static [Arg],
    /// What a success holds (every operation returns `{ok, V} | {error, E}`).
    pub result: Ty,
    /// Whether a success changes state the port must journal and replay.
    pub mutates: bool,
    pub scheduler: Scheduler,
    /// Whether the NIF library offers it.
    pub nif: bool,
    /// How the port offers it.
    pub port: Port,
    /// The function that does the work, from which the NIF functions and
    /// the port's request are generated: called with each argument as its
    /// `rust` type and each handle as `&mut` its resource (at most two of
    /// one resource: the NIF locks them in address order, the same one
    /// twice is `BadArgument("two different <resource>s")`), returning an
    /// `IntoGleam` value (`fallible`: a `Result` whose error is one too); a
    /// result `{resource}` is a new handle. `backend::<name>` is instead a
    /// function of that name in each backend crate's `backend` module (the
    /// NIF's returns a rustler `Encoder`; the port's gets the engine and its
    /// handles as they came). `None`: no adapters are generated.
    pub core: Option<&'static str>,
    pub fallible: bool,
    /// The name of its function in the typed API over every backend (the
    /// module of its first argument's resource), when that function is
    /// generated too; `None`: written by hand, or not in the API.
    pub api: Option<&'static str>,
}

/// How the port offers an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// A request of the same name and arguments; the Gleam binding is generated.
    Call,
    /// A request of the same name whose port adapter (in Rust) is written by
    /// hand; its Gleam binding is generated as for `Call`.
    ByHand,
    /// A request only the port's owner sends (checkpoints): in the
    /// journal's classes, with no Gleam binding.
    Owner,
    /// A request that frees its one argument, a handle of any journaled
    /// resource: its Gleam bindings are `<resource>_release`, one per
    /// resource the port's bindings hold.
    Free,
    /// Not a port request.
    No,
}

impl Operation {
    /// Positions (1-based) of the arguments that are journaled handles.
    pub fn handle_positions(&self) -> Vec<usize> {
        (1..=self.args.len())
            .filter(|&i| self.args[i - 1].handle.is_some_and(|r| r.journaled))
            .collect()
    }

    /// The resource whose handle the result holds, when it creates one.
    pub fn creates(&self) -> Option<&'static str> {
        self.result.resources().first().copied()
    }

    /// Whether a success makes a new journaled handle (`resources` are the
    /// table's resources).
    pub fn creates_handle(&self, resources: &[&Resource]) -> bool {
        self.mutates
            && self
                .creates()
                .is_some_and(|name| resources.iter().any(|r| r.name == name && r.journaled))
    }
}

/// `aggregator_config` to `AggregatorConfig`.
pub fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_placeholders_are_replaced_and_listed() {
        let t = Ty::new("usage.Loaded({aggregator})", "tuple()");
        assert_eq!(
            t.gleam_with(|r| format!("Nif{}", pascal(r))),
            "usage.Loaded(NifAggregator)"
        );
        assert_eq!(t.resources(), vec!["aggregator"]);
        assert_eq!(Ty::INT.gleam_with(|_| unreachable!()), "Int");
        assert_eq!(pascal("parse_event_line"), "ParseEventLine");
    }
}
