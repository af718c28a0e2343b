//// Cases every engine backend must pass with identical values. Each
//// backend's test module runs them against its own functions.

import tally/engine
import tally/event
import tally/expect
import tally/option

pub const good_line = "{\"specversion\":\"1.0\",\"id\":\"e1\",\"source\":\"/edge/fra1\",\"type\":\"com.example.usage\",\"subject\":\"acme\",\"time\":\"2024-03-01T12:00:00+01:00\",\"data\":{\"resource\":\"bucket-1\",\"meter\":\"bandwidth_out_bytes\",\"value\":1024}}"

pub fn engine_info(
  info: Result(engine.EngineInfo, engine.EngineError),
  host: String,
) -> Nil {
  let assert Ok(engine.EngineInfo(name: name, version: version, commit: _)) =
    info
  expect.equal(name, "tally_core/" <> host)
  expect.equal(version, "0.1.0")
}

pub fn meter_unit(
  unit: fn(String) -> Result(option.Option(event.MeterUnit), engine.EngineError),
) -> Nil {
  expect.equal(unit("bandwidth_out_bytes"), Ok(option.Some(event.Bytes)))
  expect.equal(unit("requests"), Ok(option.Some(event.Count)))
  expect.equal(unit("widgets"), Ok(option.None))
}

pub fn parse_event_line(
  parse: fn(BitArray) ->
    Result(Result(event.UsageEvent, event.RejectReason), engine.EngineError),
) -> Nil {
  expect.equal(
    parse(<<good_line:utf8>>),
    Ok(
      Ok(event.UsageEvent(
        id: "e1",
        source: "/edge/fra1",
        customer: "acme",
        resource: "bucket-1",
        meter: "bandwidth_out_bytes",
        value: 1024,
        time_ms: 1_709_290_800_000,
      )),
    ),
  )
  expect.equal(
    parse(<<"[]":utf8>>),
    Ok(Error(event.InvalidJson(column: 1, expected: "'{'"))),
  )
  expect.equal(
    parse(<<
      "{\"id\":\"e\",\"source\":\"s\",\"subject\":\"c\",\"time\":\"2024-03-01T00:00:00Z\",\"data\":{\"resource\":\"r\",\"meter\":\"m\",\"value\":-1}}":utf8,
    >>),
    Ok(Error(event.InvalidNumber(field: "data.value"))),
  )
}
