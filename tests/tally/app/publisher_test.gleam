//// The publisher between the outbox and a sink: drains into the file sink
//// once per key (what a crashed run wrote is not written again), moves
//// many lines in batches, retries with backoff while the bus is down, and
//// parks a line over the bus's max_payload instead of retrying it forever.

import tally/app/bus_support as bus
import tally/app/nats
import tally/app/nats_protocol as protocol
import tally/app/publisher
import tally/app/sink_nats
import tally/expect
import tally/option
import tally/otp/process
import tally/pure/bytes
import tally/pure/json_tree

fn items(keys: List(String)) -> List(#(String, String, BitArray)) {
  case keys {
    [] -> []
    [key, ..rest] -> [
      #(key, "tally.invoices", <<"{\"key\":\"":utf8, key:utf8, "\"}":utf8>>),
      ..items(rest)
    ]
  }
}

fn file_publisher(
  outbox: publisher.Outbox,
  path: String,
  batch: Int,
) -> publisher.Publisher {
  let assert Ok(started) =
    publisher.start(publisher.Config(
      outbox: outbox,
      sink: publisher.FileSink(path),
      batch: batch,
      registered: False,
    ))
  started.data
}

pub fn publisher_drains_into_the_file_sink_once_per_key_test() {
  let dir = bus.tmp_dir()
  let path = dir <> "/invoices.jsonl"
  let outbox = start_outbox(dir <> "/outbox")
  // A previous run wrote "a" to the file but crashed before acking it.
  bus.write_file(path, <<"{\"key\":\"a\"}\n":utf8>>)
  outbox_put(outbox, items(["a", "b"]))
  let p = file_publisher(outbox, path, 1)
  outbox_put(outbox, items(["c"]))
  expect.equal(wait_empty(outbox, 100), Ok(Nil))
  expect.equal(
    bus.read_file(path),
    Ok(<<"{\"key\":\"a\"}\n{\"key\":\"b\"}\n{\"key\":\"c\"}\n":utf8>>),
  )
  expect.equal(publisher.stats(p), publisher.Stats(3, 0, 0))
}

pub fn publisher_moves_many_lines_in_batches_test_() {
  bus.within(120, fn() {
    let dir = bus.tmp_dir()
    let path = dir <> "/invoices.jsonl"
    let outbox = start_outbox(dir <> "/outbox")
    let keys = many_keys(20_000, [])
    outbox_put(outbox, items(keys))
    let p = file_publisher(outbox, path, publisher.default_batch)
    expect.equal(wait_empty(outbox, 3000), Ok(Nil))
    let assert Ok(written) = bus.read_file(path)
    expect.equal(written, concat(lines(items(keys), [])))
    expect.equal(publisher.stats(p), publisher.Stats(20_000, 0, 0))
  })
}

fn many_keys(n: Int, acc: List(String)) -> List(String) {
  case n {
    0 -> acc
    _ -> many_keys(n - 1, ["k" <> bytes.int_to_text(n) <> "/2026-10/v1", ..acc])
  }
}

fn lines(
  items: List(#(String, String, BitArray)),
  acc: List(BitArray),
) -> List(BitArray) {
  case items {
    [] -> bytes.reverse(acc)
    [#(_, _, payload), ..rest] -> lines(rest, [<<"\n":utf8>>, payload, ..acc])
  }
}

fn bus_publisher(outbox: publisher.Outbox, port: Int) -> publisher.Publisher {
  let assert Ok(started) =
    publisher.start(publisher.Config(
      outbox: outbox,
      sink: publisher.NatsSink(sink_nats.Config(
        nats: nats.Config(
          ..nats.config(host: "127.0.0.1", port: port),
          ping_interval: 200,
        ),
        stream: "INV",
        subjects: ["inv.>"],
        create_stream: True,
      )),
      batch: publisher.default_batch,
      registered: False,
    ))
  started.data
}

pub fn publisher_retries_while_the_bus_is_down_test_() {
  bus.within(60, fn() { bus.quiet(retries_while_down) })
}

fn retries_while_down() -> Nil {
  let stopped = bus.stop_server(bus.start_plain())
  let port = bus.server_port(stopped)
  let outbox = start_outbox(bus.tmp_dir())
  outbox_put(outbox, [
    #("k1", "inv.x", <<"k1":utf8>>),
    #("k2", "inv.x", <<"k2":utf8>>),
    #("k3", "inv.x", <<"k3":utf8>>),
  ])
  let p = bus_publisher(outbox, port)
  process.sleep(1500)
  // The bus is down: nothing left the outbox, and the publisher kept trying.
  let stats = publisher.stats(p)
  expect.equal(stats.waiting, 3)
  expect.equal(stats.published, 0)
  expect.be_true(stats.failures >= 3, "retried at least 3 times")
  let server = bus.restart_server(stopped)
  expect.equal(wait_empty(outbox, 1500), Ok(Nil))
  let reader = bus.connected(bus.client_config(server, protocol.NoAuth))
  // A batch is published all at once: the stream's order is the arrival's.
  expect.equal(payloads(bus.read_stream(reader, "INV", 3)), ["k1", "k2", "k3"])
  expect.equal(publisher.stats(p).published, 3)
  nats.stop(reader)
  let _ = bus.stop_server(server)
  Nil
}

pub fn a_line_over_the_bus_max_payload_is_parked_not_retried_forever_test_() {
  bus.within(60, fn() { bus.quiet(over_max_payload) })
}

// The server refuses messages over 512 bytes: the big item is parked
// (parked.jsonl, with its key and reason; not remembered as acknowledged,
// so a later put sends it again), the items around it are published.
fn over_max_payload() -> Nil {
  let server =
    bus.start_server(bus.NoAuth, option.None, False, option.Some(512))
  let dir = bus.tmp_dir()
  let big = repeat(<<"x":utf8>>, 2000, <<>>)
  let outbox = start_outbox(dir)
  outbox_put(outbox, [
    #("k1/2026-10/v1", "inv.x", <<"one":utf8>>),
    #("big/2026-10/v1", "inv.x", big),
    #("k3/2026-10/v1", "inv.x", <<"three":utf8>>),
  ])
  let _ = bus_publisher(outbox, bus.server_port(server))
  expect.equal(wait_empty(outbox, 1500), Ok(Nil))
  let reader = bus.connected(bus.client_config(server, protocol.NoAuth))
  expect.equal(payloads(bus.read_stream(reader, "INV", 2)), ["one", "three"])
  let assert Ok(parked) = bus.read_file(dir <> "/parked.jsonl")
  let assert [entry] = split_lines(parked)
  let assert Ok(json) = json_tree.parse(bytes.to_text(entry))
  expect.equal(
    json_tree.member(json, "key"),
    Ok(json_tree.JString("big/2026-10/v1")),
  )
  expect.equal(
    json_tree.member(json, "reason"),
    Ok(json_tree.JString("payload_too_large")),
  )
  expect.equal(
    json_tree.member(json, "payload"),
    Ok(json_tree.JString(bytes.to_text(big))),
  )
  expect.equal(outbox_acked(outbox, "big/2026-10/v1"), False)
  expect.equal(outbox_acked(outbox, "k1/2026-10/v1"), True)
  // Not acknowledged: a later put (a close again) takes it back in.
  outbox_put(outbox, [
    #("big/2026-10/v1", "inv.x", big),
    #("k1/2026-10/v1", "inv.x", <<"one":utf8>>),
  ])
  expect.equal(wait_empty(outbox, 1500), Ok(Nil))
  let assert Ok(parked) = bus.read_file(dir <> "/parked.jsonl")
  expect.equal(bytes.length(split_lines(parked)), 2)
  nats.stop(reader)
  let _ = bus.stop_server(server)
  Nil
}

fn payloads(read: List(#(protocol.Headers, BitArray))) -> List(String) {
  sort(texts(read, []))
}

fn texts(
  read: List(#(protocol.Headers, BitArray)),
  acc: List(String),
) -> List(String) {
  case read {
    [] -> bytes.reverse(acc)
    [#(headers, payload), ..rest] -> {
      // Every message says which schema its payload follows.
      expect.equal(
        has_header(headers, #("Tally-Schema", "invoice_line.v1")),
        True,
      )
      texts(rest, [bytes.to_text(payload), ..acc])
    }
  }
}

fn has_header(headers: protocol.Headers, header: #(String, String)) -> Bool {
  case headers {
    [] -> False
    [h, ..] if h == header -> True
    [_, ..rest] -> has_header(rest, header)
  }
}

fn wait_empty(outbox: publisher.Outbox, tries: Int) -> Result(Nil, Nil) {
  case outbox_size(outbox), tries {
    0, _ -> Ok(Nil)
    _, 0 -> Error(Nil)
    _, _ -> {
      process.sleep(20)
      wait_empty(outbox, tries - 1)
    }
  }
}

fn repeat(b: BitArray, n: Int, acc: BitArray) -> BitArray {
  case n {
    0 -> acc
    _ -> repeat(b, n - 1, bytes.append(acc, b))
  }
}

fn split_lines(b: BitArray) -> List(BitArray) {
  split(b, <<"\n":utf8>>)
}

@external(erlang, "tally_bytes_ffi", "split")
fn split(bytes: BitArray, separator: BitArray) -> List(BitArray)

@external(erlang, "tally_bytes_ffi", "concat")
fn concat(parts: List(BitArray)) -> BitArray

@external(erlang, "lists", "sort")
fn sort(items: List(String)) -> List(String)

@external(erlang, "tally_bus_test_ffi", "start_outbox")
fn start_outbox(dir: String) -> publisher.Outbox

@external(erlang, "tally_bus_test_ffi", "outbox_put")
fn outbox_put(
  outbox: publisher.Outbox,
  items: List(#(String, String, BitArray)),
) -> Nil

@external(erlang, "tally_bus_test_ffi", "outbox_size")
fn outbox_size(outbox: publisher.Outbox) -> Int

@external(erlang, "tally_bus_test_ffi", "outbox_acked")
fn outbox_acked(outbox: publisher.Outbox, key: String) -> Bool
