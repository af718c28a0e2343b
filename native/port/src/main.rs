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

mod ops;

use std::process::ExitCode;

use tally_interop::etf;
use tally_interop::framing::{encode_frame, FrameDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Biggest request frame accepted; the owner enforces the same limit.
const MAX_FRAME: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
enum PortError {
    #[error("stdin/stdout: {0}")]
    Io(#[from] std::io::Error),
    #[error("framing: {0}")]
    Framing(#[from] tally_interop::InteropError),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tally_port: {e}");
            // 2: the stream itself is broken; the owner logs the status.
            ExitCode::from(2)
        }
    }
}

async fn serve() -> Result<(), PortError> {
    let mut stdin = tokio::io::stdin();
    let mut stdout = tokio::io::stdout();
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
