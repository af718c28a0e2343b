//! tally_port: the engine out of process. Reads `{packet,4}` frames of
//! External Term Format from stdin, answers each on stdout, and exits when
//! stdin closes (its owner, or the whole VM, is gone).
//!
//! Requests are `{Id, Op, Args}` with an integer `Id`, an atom `Op` and a
//! tuple of arguments; replies are `{Id, Result}` where `Result` is exactly
//! the term the NIF of the same name returns. Requests are answered in the
//! order they arrive; the owner may send many before reading replies.
//!
//! A panic inside an operation is caught and answered as
//! `{error, {native_panic, Message}}`; the engine carries on.

mod backend;
// The dispatch of the operation table's requests (make generate).
#[rustfmt::skip]
mod generated;
mod ops;

use std::process::ExitCode;

use tally_interop::etf;
use tally_interop::framing::{encode_frame, FrameDecoder};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::unix::pipe;

/// Biggest request frame accepted (a chunk, or an aggregator export being
/// restored); the owner refuses replies over its own `max_frame`.
const MAX_FRAME: usize = 1 << 30;

#[derive(Debug, thiserror::Error)]
enum PortError {
    #[error("stdin/stdout: {0}")]
    Io(#[from] std::io::Error),
    #[error("framing: {0}")]
    Framing(#[from] tally_interop::InteropError),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // One line per caught panic on stderr (the owner's log), not a backtrace.
    std::panic::set_hook(Box::new(|info| eprintln!("tally_port: caught panic: {info}")));
    match serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tally_port: {e}");
            // 2: the stream itself is broken; the owner logs the status.
            ExitCode::from(2)
        }
    }
}

/// Standard input as the owner's pipe, read through the event loop.
/// tokio's own `stdin()` hands every read to a blocking thread, which costs
/// over 100 µs a round trip; a pipe can be polled like a socket instead.
/// Anything else (a file, a terminal) falls back to `stdin()`.
fn input() -> Box<dyn AsyncRead + Unpin> {
    match std::fs::File::options()
        .read(true)
        .open("/dev/stdin")
        .map(pipe::Receiver::from_file)
    {
        Ok(Ok(rx)) => Box::new(rx),
        _ => Box::new(tokio::io::stdin()),
    }
}

/// Standard output as the owner's pipe; see [`input`].
fn output() -> Box<dyn AsyncWrite + Unpin> {
    match std::fs::File::options()
        .write(true)
        .open("/dev/stdout")
        .map(pipe::Sender::from_file)
    {
        Ok(Ok(tx)) => Box::new(tx),
        _ => Box::new(tokio::io::stdout()),
    }
}

async fn serve() -> Result<(), PortError> {
    let mut stdin = input();
    let mut stdout = output();
    let mut decoder = FrameDecoder::new(MAX_FRAME);
    let mut engine = ops::Engine::default();
    let mut buf = vec![0u8; 1 << 20];
    let mut out = Vec::with_capacity(1 << 16);
    loop {
        let n = stdin.read(&mut buf).await?;
        if n == 0 {
            return Ok(()); // end of file: the owner closed the port
        }
        decoder.push(&buf[..n]);
        // Answer every whole request that arrived, then write the replies in one go.
        while let Some(frame) = decoder.next_frame()? {
            let reply = engine.handle_frame(&frame);
            out.extend_from_slice(&encode_frame(&etf::encode(&reply)?));
        }
        if !out.is_empty() {
            stdout.write_all(&out).await?;
            stdout.flush().await?;
            out.clear();
        }
    }
}
