//// Parsing usage data, on any backend.

import tally/backend
import tally/engine
import tally/event
import tally/nif
import tally/port
import tally/pure
import tally/shadow

/// A streaming parser: feed it chunks cut anywhere, then finish it.
pub opaque type Parser {
  OnNif(nif.NifParser)
  OnPort(port.PortParser)
  OnGleam(pure.PureParser)
  OnShadow(primary: Parser, secondary: Parser)
}

/// Parses one complete input (a whole file, or a self-contained batch).
///
/// ```gleam
/// let assert Ok(parsed) = parse.parse_chunk(on: backend.Nif,
///   format: event.StorageCsv, chunk: <<"timestamp,customer,bucket,bytes\n":utf8>>,
///   options: event.default_parser_options())
/// parsed.stats.skipped
/// // -> 1
/// ```
pub fn parse_chunk(
  on engine_backend: backend.Backend,
  format format: event.Format,
  chunk chunk: BitArray,
  options options: event.ParserOptions,
) -> Result(event.Parsed, engine.EngineError) {
  case engine_backend {
    backend.Nif -> nif.parse_chunk(format, options, chunk)
    backend.Port(p) -> port.parse_chunk(p, format, options, chunk)
    backend.Gleam -> pure.parse_chunk(format, options, chunk)
    backend.Shadow(primary, secondary) ->
      shadow.compare(
        "parse_chunk",
        #(format, options, chunk),
        parse_chunk(on: primary, format: format, chunk: chunk, options: options),
        fn() {
          parse_chunk(
            on: secondary,
            format: format,
            chunk: chunk,
            options: options,
          )
        },
      )
  }
}

/// Starts a streaming parser for one input stream.
///
/// ```gleam
/// let assert Ok(p) = parse.new(on: backend.Nif, format: event.JsonLines,
///   options: event.default_parser_options())
/// ```
pub fn new(
  on engine_backend: backend.Backend,
  format format: event.Format,
  options options: event.ParserOptions,
) -> Result(Parser, engine.EngineError) {
  case engine_backend {
    backend.Nif ->
      case nif.parser_new(format, options) {
        Ok(p) -> Ok(OnNif(p))
        Error(e) -> Error(e)
      }
    backend.Port(p) ->
      case port.parser_new(p, format, options) {
        Ok(parser) -> Ok(OnPort(parser))
        Error(e) -> Error(e)
      }
    backend.Gleam ->
      case pure.parser_new(format, options) {
        Ok(p) -> Ok(OnGleam(p))
        Error(e) -> Error(e)
      }
    backend.Shadow(primary, secondary) -> {
      let first = new(on: primary, format: format, options: options)
      let second = new(on: secondary, format: format, options: options)
      // The parsers themselves differ; success or the error must not.
      let _ =
        shadow.compare(
          "parser_new",
          #(format, options),
          shadow.outcome(first),
          fn() { shadow.outcome(second) },
        )
      case first, second {
        Ok(p), Ok(s) -> Ok(OnShadow(primary: p, secondary: s))
        _, _ -> first
      }
    }
  }
}

/// Feeds a chunk; returns the events and rejects of the lines it completed.
pub fn feed(
  parser: Parser,
  chunk: BitArray,
) -> Result(event.Parsed, engine.EngineError) {
  case parser {
    OnNif(p) -> nif.parser_feed(p, chunk)
    OnPort(p) -> port.parser_feed(p, chunk)
    OnGleam(p) -> pure.parser_feed(p, chunk)
    OnShadow(p, s) ->
      shadow.compare("parser_feed", chunk, feed(p, chunk), fn() {
        feed(s, chunk)
      })
  }
}

/// Ends the stream: a last line with no newline is parsed now.
pub fn finish(parser: Parser) -> Result(event.Parsed, engine.EngineError) {
  case parser {
    OnNif(p) -> nif.parser_finish(p)
    OnPort(p) -> port.parser_finish(p)
    OnGleam(p) -> pure.parser_finish(p)
    OnShadow(p, s) ->
      shadow.compare("parser_finish", Nil, finish(p), fn() { finish(s) })
  }
}

/// Frees the parser. The NIF's parsers are garbage collected, so this only
/// matters on the port, whose parsers live until released.
pub fn close(parser: Parser) -> Result(Nil, engine.EngineError) {
  case parser {
    OnNif(_) -> Ok(Nil)
    OnPort(p) -> port.parser_release(p)
    OnGleam(p) -> Ok(pure.parser_close(p))
    OnShadow(p, s) -> {
      let _ = close(s)
      close(p)
    }
  }
}

/// The NIF handle of a parser on the NIF backend, for `tally/aggregate`.
pub fn nif_handle(parser: Parser) -> Result(nif.NifParser, engine.EngineError) {
  case parser {
    OnNif(p) -> Ok(p)
    _ -> Error(engine.BadArgument("a parser on the NIF backend"))
  }
}

/// The port handle of a parser on a port backend, for `tally/aggregate`.
pub fn port_handle(
  parser: Parser,
) -> Result(port.PortParser, engine.EngineError) {
  case parser {
    OnPort(p) -> Ok(p)
    _ -> Error(engine.BadArgument("a parser on the port backend"))
  }
}

/// The Gleam engine's parser, for `tally/aggregate`.
pub fn gleam_handle(
  parser: Parser,
) -> Result(pure.PureParser, engine.EngineError) {
  case parser {
    OnGleam(p) -> Ok(p)
    _ -> Error(engine.BadArgument("a parser on the Gleam backend"))
  }
}

/// The two parsers of a shadow parser, for `tally/aggregate`.
pub fn shadow_pair(
  parser: Parser,
) -> Result(#(Parser, Parser), engine.EngineError) {
  case parser {
    OnShadow(p, s) -> Ok(#(p, s))
    _ -> Error(engine.BadArgument("a parser on the shadow backend"))
  }
}
