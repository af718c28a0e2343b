//// The application's configuration: the `tally` application environment
//// (sys.config) and a few environment variables, decoded once, at start,
//// into the types below. A bad value is an error naming where it is, what
//// was expected and what was found; a key tally does not know is an error
//// too (a typo would otherwise be ignored).
////
//// ```erlang
//// {tally, [{data_dir, "var/tally"},
////          {backend, nif},                      % nif | port | gleam
////          {shards, 2},
////          {window, hour},                      % hour | day | month
////          {dedup, true},                       % default of every source's dedup
////          {gauge_gap_cap_ms, 172800000},
////          {snapshot_ms, 60000},                % and when the input doubled, at least
////          {snapshot_bytes, 67108864},          %   snapshot_bytes since the last one
////          {poll_ms, 1000},
////          {sources, [#{name => <<"edge">>, format => json_lines, path => "in/edge"}]},
////                        % and per source: dedup, backend, poll_ms, max_line,
////                        % s3_customer (bucket_owner | requester), chunk_bytes
////          {plans, "plans.json"},
////          {invoice_version, 1},
////          {subject, <<"tally.invoices">>},
////          {close, #{grace_ms => 86400000, check_ms => 60000}},   % or none
////          {bus, none},      % or #{host, port, user, password, stream, subjects,
////                            %       create_stream, name, ping_interval, auth => none,
////                            %       tls => true | #{cacertfile, certfile, keyfile, server_name}}
////          {file_mode, 8#600}]}
//// ```
////
//// Environment variables: TALLY_DATA_DIR, TALLY_BACKEND, TALLY_INVOICE_VERSION,
//// TALLY_NATS_URL (`nats://host:port`, or `tls://` to insist on TLS) with
//// TALLY_NATS_STREAM, the secrets TALLY_NATS_PASSWORD and TALLY_NATS_TOKEN
//// (so no secret has to live in a file), TLS files TALLY_NATS_CA_FILE,
//// TALLY_NATS_CERT_FILE, TALLY_NATS_KEY_FILE. Relative paths are taken from
//// TALLY_BASE_DIR when it is set (a release runs in its own root).
////
//// With no `sources` there is nothing to read and nothing is written: the
//// application started as a dependency (`gleam test`, a Gleam application
//// using tally as a library) stays inert (`is_inert`).

import tally/app/secret
import tally/event
import tally/option
import tally/otp/dynamic
import tally/pure/bytes
import tally/pure/chain
import tally/usage

/// Everything the running system is configured with.
pub type Config {
  Config(
    data_dir: String,
    engine: Engine,
    shards: Int,
    aggregator: usage.AggregatorConfig,
    snapshot_ms: Int,
    snapshot_bytes: Int,
    poll_ms: Int,
    sources: List(Source),
    plans: option.Option(String),
    invoice_version: Int,
    subject: String,
    close: option.Option(Close),
    bus: option.Option(Bus),
    file_mode: Int,
  )
}

/// Which engine the pipeline runs on (`backend` in sys.config).
pub type Engine {
  Nif
  Port
  Gleam
}

/// One source: a file or a directory of files in one format.
pub type Source {
  Source(
    name: String,
    format: event.Format,
    path: String,
    dedup: Bool,
    engine: Engine,
    poll_ms: Int,
    max_line: Int,
    s3_customer: event.S3Customer,
    chunk_bytes: Int,
  )
}

/// Closing on a schedule: a month is closed once it has been over for
/// `grace_ms`, checked every `check_ms`.
pub type Close {
  Close(grace_ms: Int, check_ms: Int)
}

/// NATS JetStream: where, how to authenticate, which stream.
pub type Bus {
  Bus(
    host: String,
    port: Int,
    stream: String,
    subjects: List(String),
    create_stream: Bool,
    auth: Auth,
    tls: Tls,
    name: String,
    ping_interval_ms: option.Option(Int),
  )
}

/// How tally authenticates to NATS; secrets stay wrapped.
pub type Auth {
  NoAuth
  Token(token: Secret)
  UserPassword(user: String, password: Secret)
}

/// TLS to NATS: off (used when the server requires it), or on with
/// optional files and server name.
pub type Tls {
  TlsOff
  TlsOn(
    cacertfile: option.Option(String),
    certfile: option.Option(String),
    keyfile: option.Option(String),
    server_name: option.Option(String),
  )
}

/// A secret (a password, a token): printed as a function, never as itself
/// (`tally/app/secret`).
pub type Secret =
  secret.Secret

/// Why the configuration was refused. `at` names the place: a sys.config
/// key (`sources[2].format`, `bus.port`) or an environment variable.
pub type ConfigError {
  /// The value has the wrong kind or is out of range.
  BadValue(at: String, expected: String, got: String)
  /// A required key is missing.
  MissingKey(at: String)
  /// A key tally does not know (a typo?), with the keys it knows there.
  UnknownKey(at: String, known: List(String))
  /// Two sources with one name (names key positions and rejects).
  DuplicateSource(name: String)
}

/// The defaults and the limits.
const default_chunk = 1_048_576

/// Reads and decodes the `tally` application environment and the
/// environment variables.
pub fn load() -> Result(Config, ConfigError) {
  decode(app_env(), os_env)
}

/// Decodes an application environment (`[{Key, Value}]` as sys.config
/// gives it) with `os_env` for the environment variables. Pure, for tests.
///
/// ```gleam
/// config.decode([#("shards", dynamic.from(0))], fn(_) { option.None })
/// // -> Error(BadValue("shards", "a positive integer", "0"))
/// ```
pub fn decode(
  env: List(#(String, dynamic.Dynamic)),
  os_env: fn(String) -> option.Option(String),
) -> Result(Config, ConfigError) {
  let base = os_env("TALLY_BASE_DIR")
  let path = fn(p) { relative_to(p, base) }
  use Nil <- chain.then(known_keys("", env, top_keys))
  use data_dir <- chain.then(case os_env("TALLY_DATA_DIR") {
    option.Some(dir) -> Ok(dir)
    option.None -> text_or(env, "data_dir", "var/tally")
  })
  use engine <- chain.then(case os_env("TALLY_BACKEND") {
    option.Some(name) ->
      engine_from_text("TALLY_BACKEND", name, dynamic.from(name))
    option.None ->
      optional(env, "backend", Nif, fn(v) { engine_of("backend", v) })
  })
  use shards <- chain.then(positive_or(env, "shards", 2))
  use window <- chain.then(
    optional(env, "window", usage.Hour, fn(v) { window_of("window", v) }),
  )
  use dedup <- chain.then(
    optional(env, "dedup", True, fn(v) { bool_of("dedup", v) }),
  )
  use gap_cap <- chain.then(positive_or(env, "gauge_gap_cap_ms", 172_800_000))
  use snapshot_ms <- chain.then(period_or(env, "snapshot_ms", 60_000))
  use snapshot_bytes <- chain.then(positive_or(
    env,
    "snapshot_bytes",
    67_108_864,
  ))
  use poll_ms <- chain.then(period_or(env, "poll_ms", 1000))
  use sources <- chain.then(
    optional(env, "sources", [], fn(v) {
      sources_of(v, dedup_given(env), engine, poll_ms, path)
    }),
  )
  use plans <- chain.then(
    optional(env, "plans", option.None, fn(v) {
      case term(v) {
        TermAtom("none") -> Ok(option.None)
        _ ->
          text_of("plans", v)
          |> map_ok(fn(p) { option.Some(path(p)) })
      }
    }),
  )
  use invoice_version <- chain.then(case os_env("TALLY_INVOICE_VERSION") {
    option.Some(text) ->
      case parse_int(text) {
        Ok(n) if n >= 0 && n <= 4_294_967_295 -> Ok(n)
        _ ->
          Error(BadValue(
            "TALLY_INVOICE_VERSION",
            "an integer from 0 to 4294967295",
            text,
          ))
      }
    option.None ->
      optional(env, "invoice_version", 1, fn(v) {
        int_in("invoice_version", v, 0, 4_294_967_295)
      })
  })
  use subject <- chain.then(text_or(env, "subject", "tally.invoices"))
  use close <- chain.then(optional(env, "close", option.None, close_of))
  use bus <- chain.then(bus_of(env, subject, os_env, path))
  use file_mode <- chain.then(
    optional(env, "file_mode", 384, fn(v) { int_in("file_mode", v, 0, 511) }),
  )
  Ok(Config(
    data_dir: path(data_dir),
    engine: engine,
    shards: shards,
    aggregator: usage.AggregatorConfig(
      window: window,
      dedup: dedup,
      rate_meters: ["bandwidth_out_bytes", "bandwidth_in_bytes"],
      gauge_meters: ["storage_bytes"],
      unique_meters: [],
      gauge_gap_cap_ms: gap_cap,
    ),
    snapshot_ms: snapshot_ms,
    snapshot_bytes: snapshot_bytes,
    poll_ms: poll_ms,
    sources: sources,
    plans: plans,
    invoice_version: invoice_version,
    subject: subject,
    close: close,
    bus: bus,
    file_mode: file_mode,
  ))
}

/// No sources: nothing is read, so nothing is aggregated, closed or
/// written. The application then starts no process that touches the disk.
pub fn is_inert(config: Config) -> Bool {
  config.sources == []
}

/// One line for a log or an exit message.
///
/// ```gleam
/// config.describe_error(MissingKey("sources[1].path"))
/// // -> "tally configuration: sources[1].path is missing"
/// ```
pub fn describe_error(error: ConfigError) -> String {
  "tally configuration: "
  <> case error {
    BadValue(at, expected, got) ->
      at <> " should be " <> expected <> ", got: " <> got
    MissingKey(at) -> at <> " is missing"
    UnknownKey(at, known) ->
      at <> " is not a setting tally knows (known here: " <> join(known) <> ")"
    DuplicateSource(name) -> "two sources are named " <> name
  }
}

// Keys.

const top_keys = [
  "data_dir", "backend", "shards", "window", "dedup", "gauge_gap_cap_ms",
  "snapshot_ms", "snapshot_bytes", "poll_ms", "sources", "plans",
  "invoice_version", "subject", "close", "bus", "file_mode",
]

const source_keys = [
  "name", "format", "path", "dedup", "backend", "poll_ms", "max_line",
  "s3_customer", "chunk_bytes",
]

const bus_keys = [
  "host", "port", "user", "password", "stream", "subjects", "create_stream",
  "name", "ping_interval", "tls", "auth",
]

const tls_keys = ["cacertfile", "certfile", "keyfile", "server_name"]

const close_keys = ["grace_ms", "check_ms"]

fn known_keys(
  prefix: String,
  pairs: List(#(String, dynamic.Dynamic)),
  known: List(String),
) -> Result(Nil, ConfigError) {
  case pairs {
    [] -> Ok(Nil)
    [#(key, _), ..rest] ->
      case chain.contains(known, key) {
        True -> known_keys(prefix, rest, known)
        False -> Error(UnknownKey(prefix <> key, known))
      }
  }
}

// Sources.

fn sources_of(
  value: dynamic.Dynamic,
  dedup_default: option.Option(Bool),
  engine: Engine,
  poll_ms: Int,
  path: fn(String) -> String,
) -> Result(List(Source), ConfigError) {
  case term(value) {
    TermList(items) ->
      each_source(items, 1, [], dedup_default, engine, poll_ms, path)
    _ -> Error(BadValue("sources", "a list of source maps", describe(value)))
  }
}

fn each_source(
  items: List(dynamic.Dynamic),
  index: Int,
  done: List(Source),
  dedup_default: option.Option(Bool),
  engine: Engine,
  poll_ms: Int,
  path: fn(String) -> String,
) -> Result(List(Source), ConfigError) {
  case items {
    [] -> Ok(bytes.reverse(done))
    [item, ..rest] -> {
      let at = "sources[" <> bytes.int_to_text(index) <> "]"
      use source <- chain.then(source_of(
        at,
        item,
        dedup_default,
        engine,
        poll_ms,
        path,
      ))
      use Nil <- chain.then(case has_source(done, source.name) {
        True -> Error(DuplicateSource(source.name))
        False -> Ok(Nil)
      })
      each_source(
        rest,
        index + 1,
        [source, ..done],
        dedup_default,
        engine,
        poll_ms,
        path,
      )
    }
  }
}

fn has_source(sources: List(Source), name: String) -> Bool {
  case sources {
    [] -> False
    [s, ..rest] -> s.name == name || has_source(rest, name)
  }
}

fn source_of(
  at: String,
  value: dynamic.Dynamic,
  dedup_default: option.Option(Bool),
  engine: Engine,
  poll_ms: Int,
  path: fn(String) -> String,
) -> Result(Source, ConfigError) {
  use fields <- chain.then(map_of(at, value))
  let at = at <> "."
  use Nil <- chain.then(known_keys(at, fields, source_keys))
  use name <- chain.then(required(fields, at, "name", text_of))
  use format <- chain.then(required(fields, at, "format", format_of))
  use source_path <- chain.then(required(fields, at, "path", text_of))
  use dedup <- chain.then(
    optional(fields, "dedup", default_dedup(format, dedup_default), fn(v) {
      bool_of(at <> "dedup", v)
    }),
  )
  use source_engine <- chain.then(
    optional(fields, "backend", engine, fn(v) { engine_of(at <> "backend", v) }),
  )
  use source_poll <- chain.then(
    optional(fields, "poll_ms", poll_ms, fn(v) {
      int_in(at <> "poll_ms", v, 1, max_timer)
    }),
  )
  use max_line <- chain.then(
    optional(fields, "max_line", default_chunk, fn(v) {
      int_in(at <> "max_line", v, 1, max_int)
    }),
  )
  use s3_customer <- chain.then(
    optional(fields, "s3_customer", event.BucketOwner, fn(v) {
      case term(v) {
        TermAtom("bucket_owner") -> Ok(event.BucketOwner)
        TermAtom("requester") -> Ok(event.Requester)
        _ ->
          Error(BadValue(
            at <> "s3_customer",
            "bucket_owner or requester",
            describe(v),
          ))
      }
    }),
  )
  use chunk_bytes <- chain.then(
    optional(fields, "chunk_bytes", default_chunk, fn(v) {
      int_in(at <> "chunk_bytes", v, 1, max_int)
    }),
  )
  Ok(Source(
    name: name,
    format: format,
    path: path(source_path),
    dedup: dedup,
    engine: source_engine,
    poll_ms: source_poll,
    max_line: max_line,
    s3_customer: s3_customer,
    chunk_bytes: chunk_bytes,
  ))
}

// Deduplication by event id, per source: its own `dedup`, else the
// application's `dedup`, else on where the same event may come twice
// (producers that retry; RGW usage dumps whose hours overlap) and off for
// append-only files read exactly once by position (S3 access logs,
// storage CSV), where it would only cost memory per event.
fn default_dedup(format: event.Format, given: option.Option(Bool)) -> Bool {
  case given, format {
    option.Some(dedup), _ -> dedup
    option.None, event.JsonLines -> True
    option.None, event.RgwUsage -> True
    option.None, event.S3AccessLog -> False
    option.None, event.StorageCsv -> False
  }
}

fn dedup_given(env: List(#(String, dynamic.Dynamic))) -> option.Option(Bool) {
  case lookup(env, "dedup") {
    option.Some(v) ->
      case term(v) {
        TermBool(b) -> option.Some(b)
        _ -> option.None
      }
    option.None -> option.None
  }
}

fn format_of(
  at: String,
  value: dynamic.Dynamic,
) -> Result(event.Format, ConfigError) {
  case term(value) {
    TermAtom("json_lines") -> Ok(event.JsonLines)
    TermAtom("s3_access_log") -> Ok(event.S3AccessLog)
    TermAtom("rgw_usage") -> Ok(event.RgwUsage)
    TermAtom("storage_csv") -> Ok(event.StorageCsv)
    _ ->
      Error(BadValue(
        at,
        "json_lines, s3_access_log, rgw_usage or storage_csv",
        describe(value),
      ))
  }
}

// Close, bus.

fn close_of(
  value: dynamic.Dynamic,
) -> Result(option.Option(Close), ConfigError) {
  case term(value) {
    TermAtom("none") -> Ok(option.None)
    _ -> {
      use fields <- chain.then(map_of("close", value))
      use Nil <- chain.then(known_keys("close.", fields, close_keys))
      use grace <- chain.then(
        required(fields, "close.", "grace_ms", fn(at, v) {
          int_in(at, v, 0, max_int)
        }),
      )
      use check <- chain.then(
        optional(fields, "check_ms", 60_000, fn(v) {
          int_in("close.check_ms", v, 1, max_timer)
        }),
      )
      Ok(option.Some(Close(grace, check)))
    }
  }
}

fn bus_of(
  env: List(#(String, dynamic.Dynamic)),
  subject: String,
  os_env: fn(String) -> option.Option(String),
  path: fn(String) -> String,
) -> Result(option.Option(Bus), ConfigError) {
  use configured <- chain.then(
    optional(env, "bus", option.None, fn(v) {
      case term(v) {
        TermAtom("none") -> Ok(option.None)
        _ ->
          map_of("bus", v)
          |> map_ok(fn(fields) { option.Some(fields) })
      }
    }),
  )
  let url = os_env("TALLY_NATS_URL")
  case configured, url {
    option.None, option.None -> Ok(option.None)
    _, _ -> {
      let fields = option.unwrap(configured, [])
      use Nil <- chain.then(known_keys("bus.", fields, bus_keys))
      use host <- chain.then(text_or(fields, "host", "127.0.0.1") |> at_bus)
      use port <- chain.then(
        optional(fields, "port", 4222, fn(v) {
          int_in("bus.port", v, 1, 65_535)
        }),
      )
      use stream <- chain.then(text_or(fields, "stream", "INVOICES") |> at_bus)
      use subjects <- chain.then(
        optional(fields, "subjects", [subject], fn(v) {
          texts_of("bus.subjects", v)
        }),
      )
      use create_stream <- chain.then(
        optional(fields, "create_stream", url != option.None, fn(v) {
          bool_of("bus.create_stream", v)
        }),
      )
      use name <- chain.then(text_or(fields, "name", "tally") |> at_bus)
      use ping <- chain.then(
        optional(fields, "ping_interval", option.None, fn(v) {
          int_in("bus.ping_interval", v, 1, max_timer)
          |> map_ok(fn(ms) { option.Some(ms) })
        }),
      )
      use tls <- chain.then(
        optional(fields, "tls", TlsOff, fn(v) { tls_of(v) }),
      )
      use user <- chain.then(
        optional(fields, "user", option.None, fn(v) {
          text_of("bus.user", v)
          |> map_ok(fn(u) { option.Some(u) })
        }),
      )
      use Nil <- chain.then(
        optional(fields, "auth", Nil, fn(v) {
          case term(v) {
            TermAtom("none") -> Ok(Nil)
            _ ->
              Error(BadValue(
                "bus.auth",
                "none (authenticate with user and password, or TALLY_NATS_TOKEN)",
                describe(v),
              ))
          }
        }),
      )
      use password <- chain.then(
        optional(fields, "password", "", fn(v) { text_of("bus.password", v) }),
      )
      // The URL moves the bus (and turns it on); tls:// insists on TLS.
      use #(host, port, tls, stream) <- chain.then(case url {
        option.None -> Ok(#(host, port, tls, stream))
        option.Some(text) -> {
          use #(scheme_tls, url_host, url_port) <- chain.then(parse_url(text))
          let tls = case scheme_tls, tls {
            True, TlsOff ->
              TlsOn(option.None, option.None, option.None, option.None)
            _, _ -> tls
          }
          let stream = option.unwrap(os_env("TALLY_NATS_STREAM"), stream)
          Ok(#(url_host, url_port, tls, stream))
        }
      })
      let auth = case os_env("TALLY_NATS_TOKEN"), user {
        option.Some(token), _ -> Token(wrap(token))
        option.None, option.None -> NoAuth
        option.None, option.Some(u) ->
          UserPassword(
            u,
            wrap(option.unwrap(os_env("TALLY_NATS_PASSWORD"), password)),
          )
      }
      let tls = tls_from_env(tls, os_env, path)
      Ok(
        option.Some(Bus(
          host: host,
          port: port,
          stream: stream,
          subjects: subjects,
          create_stream: create_stream,
          auth: auth,
          tls: tls,
          name: name,
          ping_interval_ms: ping,
        )),
      )
    }
  }
}

fn at_bus(result: Result(a, ConfigError)) -> Result(a, ConfigError) {
  case result {
    Error(BadValue(at, expected, got)) ->
      Error(BadValue("bus." <> at, expected, got))
    other -> other
  }
}

fn parse_url(text: String) -> Result(#(Bool, String, Int), ConfigError) {
  let bad =
    Error(BadValue(
      "TALLY_NATS_URL",
      "nats://host:port or tls://host:port",
      text,
    ))
  case split_url(text) {
    Ok(#(scheme, host, port_text)) -> {
      let tls = scheme == "tls"
      case scheme == "nats" || tls, host, port_text {
        False, _, _ -> bad
        _, "", _ -> bad
        True, _, "" -> Ok(#(tls, host, 4222))
        True, _, _ ->
          case parse_int(port_text) {
            Ok(port) if port >= 1 && port <= 65_535 -> Ok(#(tls, host, port))
            _ -> bad
          }
      }
    }
    Error(Nil) -> bad
  }
}

fn tls_of(value: dynamic.Dynamic) -> Result(Tls, ConfigError) {
  case term(value) {
    TermBool(False) -> Ok(TlsOff)
    TermBool(True) ->
      Ok(TlsOn(option.None, option.None, option.None, option.None))
    TermMap(_) -> {
      use fields <- chain.then(map_of("bus.tls", value))
      use Nil <- chain.then(known_keys("bus.tls.", fields, tls_keys))
      let file = fn(key) {
        optional(fields, key, option.None, fn(v) {
          text_of("bus.tls." <> key, v)
          |> map_ok(fn(t) { option.Some(t) })
        })
      }
      use ca <- chain.then(file("cacertfile"))
      use cert <- chain.then(file("certfile"))
      use key <- chain.then(file("keyfile"))
      use server_name <- chain.then(file("server_name"))
      Ok(TlsOn(ca, cert, key, server_name))
    }
    _ ->
      Error(BadValue(
        "bus.tls",
        "true, false or a map of cacertfile, certfile, keyfile, server_name",
        describe(value),
      ))
  }
}

// TLS files from the environment turn TLS on too; every file path is
// taken from TALLY_BASE_DIR (the server name is not a path).
fn tls_from_env(
  tls: Tls,
  os_env: fn(String) -> option.Option(String),
  path: fn(String) -> String,
) -> Tls {
  let ca = os_env("TALLY_NATS_CA_FILE")
  let cert = os_env("TALLY_NATS_CERT_FILE")
  let key = os_env("TALLY_NATS_KEY_FILE")
  let either = fn(env, configured) {
    case env {
      option.Some(_) -> env
      option.None -> configured
    }
  }
  let on = fn(a, b, c, server) {
    TlsOn(option_map(a, path), option_map(b, path), option_map(c, path), server)
  }
  case tls, ca, cert, key {
    TlsOff, option.None, option.None, option.None -> TlsOff
    TlsOff, _, _, _ -> on(ca, cert, key, option.None)
    TlsOn(a, b, c, server), _, _, _ ->
      on(either(ca, a), either(cert, b), either(key, c), server)
  }
}

// Values.

fn engine_of(
  at: String,
  value: dynamic.Dynamic,
) -> Result(Engine, ConfigError) {
  case term(value) {
    TermAtom(name) -> engine_from_text(at, name, value)
    _ -> Error(BadValue(at, "nif, port or gleam", describe(value)))
  }
}

fn engine_from_text(
  at: String,
  name: String,
  value: dynamic.Dynamic,
) -> Result(Engine, ConfigError) {
  case name {
    "nif" -> Ok(Nif)
    "port" -> Ok(Port)
    "gleam" -> Ok(Gleam)
    _ -> Error(BadValue(at, "nif, port or gleam", describe(value)))
  }
}

fn window_of(
  at: String,
  value: dynamic.Dynamic,
) -> Result(usage.Window, ConfigError) {
  case term(value) {
    TermAtom("hour") -> Ok(usage.Hour)
    TermAtom("day") -> Ok(usage.Day)
    TermAtom("month") -> Ok(usage.Month)
    _ -> Error(BadValue(at, "hour, day or month", describe(value)))
  }
}

fn bool_of(at: String, value: dynamic.Dynamic) -> Result(Bool, ConfigError) {
  case term(value) {
    TermBool(b) -> Ok(b)
    _ -> Error(BadValue(at, "true or false", describe(value)))
  }
}

const max_int = 9_007_199_254_740_991

// The longest period erlang:send_after takes (ms): a timer's setting above
// it would crash its process at the first tick.
const max_timer = 4_294_967_295

fn int_in(
  at: String,
  value: dynamic.Dynamic,
  low: Int,
  high: Int,
) -> Result(Int, ConfigError) {
  case term(value) {
    TermInt(n) if n >= low && n <= high -> Ok(n)
    _ -> {
      let expected = case low, high == max_int {
        1, True -> "a positive integer"
        0, True -> "a non-negative integer"
        _, _ ->
          "an integer from "
          <> bytes.int_to_text(low)
          <> " to "
          <> bytes.int_to_text(high)
      }
      Error(BadValue(at, expected, describe(value)))
    }
  }
}

fn text_of(at: String, value: dynamic.Dynamic) -> Result(String, ConfigError) {
  case term(value) {
    TermText(text) if text != "" -> Ok(text)
    // Not UTF-8, an improper list, a tuple, a pid...
    TermOther ->
      Error(BadValue(at, "a non-empty UTF-8 string", describe(value)))
    _ -> Error(BadValue(at, "a non-empty string", describe(value)))
  }
}

fn texts_of(
  at: String,
  value: dynamic.Dynamic,
) -> Result(List(String), ConfigError) {
  let bad = Error(BadValue(at, "a non-empty list of strings", describe(value)))
  case term(value) {
    TermList([]) -> bad
    TermList(items) -> all_texts(items, [], bad)
    _ -> bad
  }
}

fn all_texts(
  items: List(dynamic.Dynamic),
  done: List(String),
  bad: Result(List(String), ConfigError),
) -> Result(List(String), ConfigError) {
  case items {
    [] -> Ok(bytes.reverse(done))
    [item, ..rest] ->
      case term(item) {
        TermText(text) if text != "" -> all_texts(rest, [text, ..done], bad)
        _ -> bad
      }
  }
}

fn map_of(
  at: String,
  value: dynamic.Dynamic,
) -> Result(List(#(String, dynamic.Dynamic)), ConfigError) {
  case term(value) {
    TermMap(pairs) -> map_keys(at, value, pairs, [])
    _ -> Error(BadValue(at, "a map", describe(value)))
  }
}

fn map_keys(
  at: String,
  whole: dynamic.Dynamic,
  pairs: List(#(dynamic.Dynamic, dynamic.Dynamic)),
  done: List(#(String, dynamic.Dynamic)),
) -> Result(List(#(String, dynamic.Dynamic)), ConfigError) {
  case pairs {
    [] -> Ok(bytes.reverse(done))
    [#(key, value), ..rest] ->
      case term(key) {
        TermAtom(name) -> map_keys(at, whole, rest, [#(name, value), ..done])
        _ -> Error(BadValue(at, "a map with atom keys", describe(whole)))
      }
  }
}

// Lookups with defaults.

fn lookup(
  pairs: List(#(String, dynamic.Dynamic)),
  key: String,
) -> option.Option(dynamic.Dynamic) {
  case pairs {
    [] -> option.None
    [#(k, v), ..] if k == key -> option.Some(v)
    [_, ..rest] -> lookup(rest, key)
  }
}

fn optional(
  pairs: List(#(String, dynamic.Dynamic)),
  key: String,
  default: a,
  decoder: fn(dynamic.Dynamic) -> Result(a, ConfigError),
) -> Result(a, ConfigError) {
  case lookup(pairs, key) {
    option.None -> Ok(default)
    option.Some(value) -> decoder(value)
  }
}

fn required(
  pairs: List(#(String, dynamic.Dynamic)),
  prefix: String,
  key: String,
  decoder: fn(String, dynamic.Dynamic) -> Result(a, ConfigError),
) -> Result(a, ConfigError) {
  case lookup(pairs, key) {
    option.None -> Error(MissingKey(prefix <> key))
    option.Some(value) -> decoder(prefix <> key, value)
  }
}

fn text_or(
  pairs: List(#(String, dynamic.Dynamic)),
  key: String,
  default: String,
) -> Result(String, ConfigError) {
  optional(pairs, key, default, fn(v) { text_of(key, v) })
}

fn positive_or(
  pairs: List(#(String, dynamic.Dynamic)),
  key: String,
  default: Int,
) -> Result(Int, ConfigError) {
  optional(pairs, key, default, fn(v) { int_in(key, v, 1, max_int) })
}

fn period_or(
  pairs: List(#(String, dynamic.Dynamic)),
  key: String,
  default: Int,
) -> Result(Int, ConfigError) {
  optional(pairs, key, default, fn(v) { int_in(key, v, 1, max_timer) })
}

fn map_ok(result: Result(a, e), f: fn(a) -> b) -> Result(b, e) {
  case result {
    Ok(a) -> Ok(f(a))
    Error(e) -> Error(e)
  }
}

fn option_map(o: option.Option(a), f: fn(a) -> b) -> option.Option(b) {
  case o {
    option.Some(a) -> option.Some(f(a))
    option.None -> option.None
  }
}

fn join(words: List(String)) -> String {
  case words {
    [] -> ""
    [w] -> w
    [w, ..rest] -> w <> ", " <> join(rest)
  }
}

fn relative_to(path: String, base: option.Option(String)) -> String {
  case base {
    option.None -> path
    option.Some(dir) -> absname(path, dir)
  }
}

// What a sys.config value is, one level deep (tally_config_ffi).
type Term {
  TermInt(Int)
  TermBool(Bool)
  TermAtom(String)
  TermText(String)
  TermList(List(dynamic.Dynamic))
  TermMap(List(#(dynamic.Dynamic, dynamic.Dynamic)))
  TermOther
}

@external(erlang, "tally_config_ffi", "term")
fn term(value: dynamic.Dynamic) -> Term

@external(erlang, "tally_config_ffi", "describe")
fn describe(value: dynamic.Dynamic) -> String

@external(erlang, "tally_config_ffi", "app_env")
fn app_env() -> List(#(String, dynamic.Dynamic))

@external(erlang, "tally_config_ffi", "os_env")
fn os_env(name: String) -> option.Option(String)

@external(erlang, "tally_config_ffi", "parse_int")
fn parse_int(text: String) -> Result(Int, Nil)

@external(erlang, "tally_config_ffi", "split_url")
fn split_url(text: String) -> Result(#(String, String, String), Nil)

@external(erlang, "tally_config_ffi", "absname")
fn absname(path: String, base: String) -> String

fn wrap(text: String) -> Secret {
  secret.new(text)
}

/// Keeps `config` as the running system's (set by `tree.start`), so that
/// operations on the running system (`tally/app/operations`) read the same
/// configuration the tree was started with, without decoding it again.
pub fn set_current(config: Config) -> Nil {
  put_current(dynamic.from(current_key()), config)
}

/// The running system's configuration (see `set_current`).
pub fn current() -> Result(Config, Nil) {
  get_current(dynamic.from(current_key()))
}

fn current_key() -> #(String, String) {
  #("tally", "config")
}

@external(erlang, "tally_config_ffi", "put_current")
fn put_current(key: dynamic.Dynamic, config: Config) -> Nil

@external(erlang, "tally_config_ffi", "get_current")
fn get_current(key: dynamic.Dynamic) -> Result(Config, Nil)
