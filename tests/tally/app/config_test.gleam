//// tally/app/config: sys.config and environment variables decoded into
//// the application's types; every kind of bad value refused with where,
//// what was expected and what was found.

import tally/app/config
import tally/app/secret
import tally/event
import tally/expect
import tally/option
import tally/otp/dynamic
import tally/usage

fn decode(text: String) -> Result(config.Config, config.ConfigError) {
  config.decode(env(text), no_os_env)
}

fn decode_with(
  text: String,
  os: List(#(String, String)),
) -> Result(config.Config, config.ConfigError) {
  config.decode(env(text), fn(name) { find(os, name) })
}

fn no_os_env(_name: String) -> option.Option(String) {
  option.None
}

fn find(pairs: List(#(String, String)), name: String) -> option.Option(String) {
  case pairs {
    [] -> option.None
    [#(k, v), ..] if k == name -> option.Some(v)
    [_, ..rest] -> find(rest, name)
  }
}

fn error_of(result: Result(a, config.ConfigError)) -> config.ConfigError {
  let assert Error(error) = result
  error
}

pub fn no_configuration_is_inert_with_the_defaults_test() {
  let assert Ok(c) = decode("[]")
  expect.be_true(config.is_inert(c), "no sources: inert")
  expect.equal(c.data_dir, "var/tally")
  expect.equal(c.engine, config.Nif)
  expect.equal(c.shards, 2)
  expect.equal(c.aggregator.window, usage.Hour)
  expect.equal(c.aggregator.dedup, True)
  expect.equal(c.aggregator.gauge_gap_cap_ms, 172_800_000)
  expect.equal(c.plans, option.None)
  expect.equal(c.close, option.None)
  expect.equal(c.bus, option.None)
  expect.equal(c.invoice_version, 1)
  expect.equal(c.subject, "tally.invoices")
  expect.equal(c.file_mode, 384)
}

pub fn the_shipped_sys_config_decodes_test() {
  let assert Ok(c) =
    decode(
      "[{data_dir, \"_build/run\"}, {backend, nif}, {shards, 2}, {window, hour},
        {snapshot_ms, 5000}, {poll_ms, 1000},
        {sources, [#{name => <<\"edge\">>, format => json_lines, path => \"sample/events.jsonl\"},
                   #{name => <<\"s3\">>, format => s3_access_log, path => \"sample/s3_access.log\"},
                   #{name => <<\"ceph\">>, format => rgw_usage, path => \"sample/rgw\"},
                   #{name => <<\"storage\">>, format => storage_csv, path => \"sample/storage.csv\"}]},
        {plans, \"sample/plans.json\"}, {invoice_version, 1}, {close, none}, {bus, none}]",
    )
  expect.be_true(!config.is_inert(c), "sources: not inert")
  expect.equal(c.data_dir, "_build/run")
  expect.equal(c.snapshot_ms, 5000)
  expect.equal(c.plans, option.Some("sample/plans.json"))
  let assert [edge, s3, ceph, storage] = c.sources
  expect.equal(
    edge,
    config.Source(
      name: "edge",
      format: event.JsonLines,
      path: "sample/events.jsonl",
      dedup: True,
      engine: config.Nif,
      poll_ms: 1000,
      max_line: 1_048_576,
      s3_customer: event.BucketOwner,
      chunk_bytes: 1_048_576,
    ),
  )
  // Dedup by default only where an event may come twice.
  expect.equal(#(s3.dedup, ceph.dedup, storage.dedup), #(False, True, False))
  expect.equal(s3.format, event.S3AccessLog)
}

pub fn a_source_s_own_settings_win_over_the_application_s_test() {
  let assert Ok(c) =
    decode(
      "[{dedup, false}, {backend, port}, {poll_ms, 500},
        {sources, [#{name => \"a\", format => json_lines, path => <<\"in/a\">>},
                   #{name => \"b\", format => s3_access_log, path => \"in/b\", dedup => true,
                     backend => gleam, poll_ms => 20, s3_customer => requester}]}]",
    )
  let assert [a, b] = c.sources
  expect.equal(#(a.dedup, a.engine, a.poll_ms), #(False, config.Port, 500))
  expect.equal(#(b.dedup, b.engine, b.poll_ms, b.s3_customer), #(
    True,
    config.Gleam,
    20,
    event.Requester,
  ))
}

pub fn environment_variables_override_sys_config_test() {
  let assert Ok(c) =
    decode_with(
      "[{data_dir, \"var/x\"}, {invoice_version, 1},
        {sources, [#{name => <<\"a\">>, format => json_lines, path => \"in/a\"}]}]",
      [
        #("TALLY_DATA_DIR", "data"),
        #("TALLY_BACKEND", "port"),
        #("TALLY_INVOICE_VERSION", "7"),
        #("TALLY_BASE_DIR", "/srv/tally"),
      ],
    )
  expect.equal(c.data_dir, "/srv/tally/data")
  expect.equal(c.engine, config.Port)
  expect.equal(c.invoice_version, 7)
  let assert [a] = c.sources
  expect.equal(a.path, "/srv/tally/in/a")
}

pub fn a_wrong_kind_of_value_names_the_key_test() {
  expect.equal(
    error_of(decode("[{shards, 0}]")),
    config.BadValue("shards", "a positive integer", "0"),
  )
  expect.equal(
    error_of(decode("[{window, week}]")),
    config.BadValue("window", "hour, day or month", "week"),
  )
  expect.equal(
    error_of(decode("[{backend, rust}]")),
    config.BadValue("backend", "nif, port or gleam", "rust"),
  )
  expect.equal(
    error_of(decode("[{dedup, yes}]")),
    config.BadValue("dedup", "true or false", "yes"),
  )
  expect.equal(
    error_of(decode("[{data_dir, 42}]")),
    config.BadValue("data_dir", "a non-empty string", "42"),
  )
  expect.equal(
    error_of(decode("[{invoice_version, -1}]")),
    config.BadValue("invoice_version", "an integer from 0 to 4294967295", "-1"),
  )
  expect.equal(
    error_of(decode("[{file_mode, 8#1000}]")),
    config.BadValue("file_mode", "an integer from 0 to 511", "512"),
  )
  expect.equal(
    error_of(decode("[{sources, #{}}]")),
    config.BadValue("sources", "a list of source maps", "#{}"),
  )
}

pub fn a_bad_source_names_the_source_and_the_key_test() {
  expect.equal(
    error_of(decode("[{sources, [#{name => <<\"a\">>, format => json_lines}]}]")),
    config.MissingKey("sources[1].path"),
  )
  expect.equal(
    error_of(decode(
      "[{sources, [#{name => <<\"a\">>, format => json_lines, path => \"a\"},
                   #{name => <<\"b\">>, format => csv, path => \"b\"}]}]",
    )),
    config.BadValue(
      "sources[2].format",
      "json_lines, s3_access_log, rgw_usage or storage_csv",
      "csv",
    ),
  )
  expect.equal(
    error_of(decode(
      "[{sources, [#{name => <<\"a\">>, fromat => json_lines, path => \"a\"}]}]",
    )),
    config.UnknownKey("sources[1].fromat", [
      "name", "format", "path", "dedup", "backend", "poll_ms", "max_line",
      "s3_customer", "chunk_bytes",
    ]),
  )
  expect.equal(
    error_of(decode("[{sources, [{edge, json_lines}]}]")),
    config.BadValue("sources[1]", "a map", "{edge,json_lines}"),
  )
  expect.equal(
    error_of(decode(
      "[{sources, [#{name => <<\"a\">>, format => json_lines, path => \"a\", poll_ms => 0}]}]",
    )),
    config.BadValue(
      "sources[1].poll_ms",
      "an integer from 1 to 4294967295",
      "0",
    ),
  )
  expect.equal(
    error_of(decode(
      "[{sources, [#{name => <<\"a\">>, format => json_lines, path => \"a\"},
                   #{name => \"a\", format => rgw_usage, path => \"b\"}]}]",
    )),
    config.DuplicateSource("a"),
  )
}

// A timer's period goes to erlang:send_after, which takes at most
// 2^32 - 1 ms: a longer one crashed the process at its first tick.
pub fn a_period_longer_than_a_timer_takes_is_refused_test() {
  let timer = "an integer from 1 to 4294967295"
  expect.equal(
    error_of(decode("[{snapshot_ms, 4294967296}]")),
    config.BadValue("snapshot_ms", timer, "4294967296"),
  )
  expect.equal(
    error_of(decode("[{poll_ms, 1099511627776}]")),
    config.BadValue("poll_ms", timer, "1099511627776"),
  )
  expect.equal(
    error_of(decode(
      "[{sources, [#{name => <<\"a\">>, format => json_lines, path => \"a\", poll_ms => 4294967296}]}]",
    )),
    config.BadValue("sources[1].poll_ms", timer, "4294967296"),
  )
  expect.equal(
    error_of(decode("[{close, #{grace_ms => 0, check_ms => 4294967296}}]")),
    config.BadValue("close.check_ms", timer, "4294967296"),
  )
  expect.equal(
    error_of(decode("[{bus, #{ping_interval => 4294967296}}]")),
    config.BadValue("bus.ping_interval", timer, "4294967296"),
  )
  let assert Ok(c) = decode("[{snapshot_ms, 4294967295}]")
  expect.equal(c.snapshot_ms, 4_294_967_295)
}

pub fn an_unknown_setting_is_refused_test() {
  let assert config.UnknownKey("shard", _) = error_of(decode("[{shard, 4}]"))
  Nil
}

pub fn a_bad_environment_variable_names_the_variable_test() {
  expect.equal(
    error_of(decode_with("[]", [#("TALLY_BACKEND", "rust")])),
    config.BadValue("TALLY_BACKEND", "nif, port or gleam", "<<\"rust\">>"),
  )
  expect.equal(
    error_of(decode_with("[]", [#("TALLY_INVOICE_VERSION", "v2")])),
    config.BadValue(
      "TALLY_INVOICE_VERSION",
      "an integer from 0 to 4294967295",
      "v2",
    ),
  )
  expect.equal(
    error_of(decode_with("[]", [#("TALLY_NATS_URL", "http://nats:4222")])),
    config.BadValue(
      "TALLY_NATS_URL",
      "nats://host:port or tls://host:port",
      "http://nats:4222",
    ),
  )
  expect.equal(
    error_of(decode_with("[]", [#("TALLY_NATS_URL", "nats://nats:99999")])),
    config.BadValue(
      "TALLY_NATS_URL",
      "nats://host:port or tls://host:port",
      "nats://nats:99999",
    ),
  )
}

pub fn close_is_none_or_a_schedule_test() {
  let assert Ok(c) = decode("[{close, #{grace_ms => 1000}}]")
  expect.equal(c.close, option.Some(config.Close(1000, 60_000)))
  expect.equal(
    error_of(decode("[{close, #{check_ms => 10}}]")),
    config.MissingKey("close.grace_ms"),
  )
  expect.equal(
    error_of(decode("[{close, daily}]")),
    config.BadValue("close", "a map", "daily"),
  )
}

pub fn the_bus_from_sys_config_with_its_secret_wrapped_test() {
  let assert Ok(c) =
    decode_with(
      "[{bus, #{host => \"nats.internal\", user => <<\"tally\">>, password => <<\"pw-in-sys-config\">>,
                stream => <<\"INV\">>, subjects => [<<\"tally.invoices\">>]}}]",
      [#("TALLY_NATS_PASSWORD", "pw-from-env")],
    )
  let assert option.Some(bus) = c.bus
  expect.equal(#(bus.host, bus.port, bus.stream), #(
    "nats.internal",
    4222,
    "INV",
  ))
  expect.equal(bus.create_stream, False)
  expect.equal(bus.tls, config.TlsOff)
  let assert config.UserPassword("tally", secret) = bus.auth
  expect.equal(secret.reveal(secret), "pw-from-env")
  // Printed (a crash report, a state dump), the secret is not there.
  expect.equal(contains(printed(dynamic.from(c)), "pw-"), False)
}

pub fn the_bus_from_the_environment_test() {
  let assert Ok(c) =
    decode_with("[{subject, <<\"billing.lines\">>}]", [
      #("TALLY_NATS_URL", "tls://nats.internal:4443"),
      #("TALLY_NATS_CA_FILE", "/etc/tally/ca.pem"),
      #("TALLY_NATS_TOKEN", "t0ken"),
      #("TALLY_NATS_STREAM", "BILLING"),
    ])
  let assert option.Some(bus) = c.bus
  expect.equal(#(bus.host, bus.port, bus.stream), #(
    "nats.internal",
    4443,
    "BILLING",
  ))
  expect.equal(bus.subjects, ["billing.lines"])
  expect.equal(bus.create_stream, True)
  expect.equal(
    bus.tls,
    config.TlsOn(
      option.Some("/etc/tally/ca.pem"),
      option.None,
      option.None,
      option.None,
    ),
  )
  let assert config.Token(token) = bus.auth
  expect.equal(secret.reveal(token), "t0ken")
}

pub fn bad_bus_values_name_the_key_test() {
  expect.equal(
    error_of(decode("[{bus, #{port => 70000}}]")),
    config.BadValue("bus.port", "an integer from 1 to 65535", "70000"),
  )
  expect.equal(
    error_of(decode("[{bus, #{tls => maybe}}]")),
    config.BadValue(
      "bus.tls",
      "true, false or a map of cacertfile, certfile, keyfile, server_name",
      "maybe",
    ),
  )
  let assert config.UnknownKey("bus.tls.cafile", _) =
    error_of(decode("[{bus, #{tls => #{cafile => \"/ca.pem\"}}}]"))
  expect.equal(
    error_of(decode("[{bus, #{auth => {token, <<\"t\">>}}}]")),
    config.BadValue(
      "bus.auth",
      "none (authenticate with user and password, or TALLY_NATS_TOKEN)",
      "{token,<<\"t\">>}",
    ),
  )
  expect.equal(
    error_of(decode("[{bus, #{subjects => []}}]")),
    config.BadValue("bus.subjects", "a non-empty list of strings", "[]"),
  )
}

pub fn describe_error_says_where_and_why_test() {
  expect.equal(
    config.describe_error(config.BadValue("shards", "a positive integer", "0")),
    "tally configuration: shards should be a positive integer, got: 0",
  )
  expect.equal(
    config.describe_error(config.MissingKey("sources[1].path")),
    "tally configuration: sources[1].path is missing",
  )
  expect.equal(
    config.describe_error(config.DuplicateSource("edge")),
    "tally configuration: two sources are named edge",
  )
}

@external(erlang, "tally_app_test_ffi", "env")
fn env(text: String) -> List(#(String, dynamic.Dynamic))

@external(erlang, "tally_otp_test_ffi", "exit_reason_text")
fn printed(value: dynamic.Dynamic) -> String

@external(erlang, "string", "find")
fn find_text(haystack: String, needle: String) -> dynamic.Dynamic

fn contains(haystack: String, needle: String) -> Bool {
  find_text(haystack, needle) != dynamic.from(nomatch())
}

@external(erlang, "tally_app_test_ffi", "nomatch")
fn nomatch() -> dynamic.Dynamic
