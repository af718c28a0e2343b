//! The example's port: [`interop_example::call`] behind `{packet,4}` framed
//! External Term Format on stdin and stdout (`tally_interop::port::serve`).
//! It exits when the VM closes the port; a panic in the work is answered as
//! `{error, {native_panic, Message}}` and the port carries on.

use std::process::ExitCode;

/// Biggest request taken: a frame over it stops the port with an error.
const MAX_FRAME: usize = 64 << 20;

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("interop_example_port: caught panic: {info}")
    }));
    let (stdin, stdout) = (std::io::stdin().lock(), std::io::stdout().lock());
    match tally_interop::port::serve(stdin, stdout, MAX_FRAME, interop_example::call) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("interop_example_port: {e}");
            ExitCode::from(2)
        }
    }
}
