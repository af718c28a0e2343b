//! The example's NIF: the functions of the operation table inside the VM,
//! generated (native/nif/src/generated.rs). A panic never crosses into the
//! VM: `guarded` turns it into `{error, {native_panic, Message}}`.

// Written by `make generate`, as the generator lays it out.
#[rustfmt::skip]
mod generated;

rustler::init!("interop_example_nif");
