//// The shard actor on the pure Gleam engine, without the application: a
//// chunk is applied once by position, a chunk that does not start where
//// the shard stands is refused, and a restarted shard comes back from its
//// snapshot with its positions (late events cut back to match).

import tally/aggregate
import tally/app/files
import tally/app/shard
import tally/app/source_pos
import tally/backend
import tally/billing
import tally/event
import tally/expect
import tally/option
import tally/otp/process
import tally/pure/bytes
import tally/usage

// An index no running application uses.
const index = 90

fn config(dir: String) -> shard.Config {
  shard.Config(
    index: index,
    backend: backend.Gleam,
    dir: dir,
    aggregator: usage.default_config(),
    snapshot_ms: 600_000,
    snapshot_bytes: 1_000_000_000,
  )
}

fn line(id: String) -> String {
  "{\"id\":\""
  <> id
  <> "\",\"source\":\"/t\",\"subject\":\"acme\",\"time\":\"2026-10-02T00:00:00Z\","
  <> "\"data\":{\"resource\":\"r\",\"meter\":\"requests\",\"value\":1}}\n"
}

// The one batch (one shard) of a chunk.
fn batch(chunk: String) -> aggregate.Batch {
  let assert Ok(event.Ingested([b], [], _)) =
    aggregate.ingest(
      on: backend.Gleam,
      format: event.JsonLines,
      options: event.default_parser_options(),
      shards: 1,
      chunk: <<chunk:utf8>>,
    )
  b
}

fn send(
  file: source_pos.SourceFile,
  from: Int,
  to: Int,
  chunk: option.Option(String),
) -> Result(Nil, shard.ShardError) {
  let reply = process.new_subject()
  shard.send_batch(
    shard.subject(index),
    file: file,
    generation: 0,
    from: from,
    to: source_pos.Position(..source_pos.start(0), offset: to),
    batch: case chunk {
      option.Some(c) -> option.Some(batch(c))
      option.None -> option.None
    },
    reply: reply,
  )
  let assert Ok(answer) = process.receive(reply, 10_000)
  answer
}

fn applied() -> Int {
  let assert Ok(counters) = shard.counters(index)
  counters.applied
}

fn stop(started: process.Pid) -> Nil {
  process.unlink(started)
  process.kill(started)
  // The name is free once the process is gone.
  wait_gone(50)
}

fn wait_gone(tries: Int) -> Nil {
  case process.named(shard.name(index)), tries {
    Error(Nil), _ -> Nil
    Ok(_), 0 -> Nil
    Ok(_), _ -> {
      process.sleep(10)
      wait_gone(tries - 1)
    }
  }
}

pub fn a_chunk_is_applied_once_by_position_test() {
  let dir = tmp_dir()
  let file = source_pos.SourceFile("edge", source_pos.FileId(1, 2))
  let assert Ok(started) = shard.start(config(dir))
  let first = line("a") <> line("b")
  expect.equal(send(file, 0, 10, option.Some(first)), Ok(Nil))
  expect.equal(applied(), 2)
  // The same chunk again (a collector restarted): skipped, not counted twice.
  expect.equal(send(file, 0, 10, option.Some(first)), Ok(Nil))
  expect.equal(applied(), 2)
  // A chunk past a gap: refused.
  expect.equal(
    send(file, 20, 30, option.Some(line("c"))),
    Error(shard.ChunkNotAtPosition(from: 20, at: 10)),
  )
  expect.equal(applied(), 2)
  // A position only (no events for this shard) moves the position.
  expect.equal(send(file, 10, 20, option.None), Ok(Nil))
  expect.equal(send(file, 20, 30, option.Some(line("c"))), Ok(Nil))
  expect.equal(applied(), 3)
  expect.equal(shard.positions(index), [
    #(file, source_pos.Position(..source_pos.start(0), offset: 30)),
  ])
  stop(started.pid)
}

pub fn a_restarted_shard_comes_back_from_its_snapshot_test() {
  let dir = tmp_dir()
  let file = source_pos.SourceFile("edge", source_pos.FileId(1, 3))
  let assert Ok(started) = shard.start(config(dir))
  expect.equal(send(file, 0, 10, option.Some(line("a"))), Ok(Nil))
  expect.equal(shard.snapshot(index), Ok(Nil))
  // Applied after the snapshot: lost with the process, read again later.
  expect.equal(send(file, 10, 20, option.Some(line("b"))), Ok(Nil))
  stop(started.pid)
  let assert Ok(again) = shard.start(config(dir))
  expect.equal(applied(), 1)
  expect.equal(shard.positions(index), [
    #(file, source_pos.Position(..source_pos.start(0), offset: 10)),
  ])
  expect.equal(send(file, 0, 10, option.Some(line("a"))), Ok(Nil))
  expect.equal(send(file, 10, 20, option.Some(line("b"))), Ok(Nil))
  expect.equal(applied(), 2)
  stop(again.pid)
  // A damaged snapshot is set aside and the shard starts empty.
  let snapshot = files.join(dir, "shard-90.snapshot")
  write_file(snapshot, <<"not a snapshot":utf8>>)
  let assert Ok(fresh) = shard.start(config(dir))
  expect.equal(applied(), 0)
  expect.equal(shard.positions(index), [])
  expect.equal(files.exists(snapshot <> ".bad"), True)
  stop(fresh.pid)
}

pub fn a_shard_restarted_between_rounds_still_knows_the_period_is_closed_test() {
  let dir = tmp_dir()
  let file = source_pos.SourceFile("edge", source_pos.FileId(1, 4))
  // Two customers this shard bills, as shard 90 of 91.
  let assert [first, second, ..] = customers_of_shard(0, [])
  let assert Ok(started) = shard.start(config(dir))
  let chunk = customer_line("a", first) <> customer_line("b", second)
  expect.equal(send(file, 0, 10, option.Some(chunk)), Ok(Nil))
  let plans =
    "{\"plans\": {\"std\": {\"currency\": \"EUR\", \"lines\": [{\"meter\": \"requests\", "
    <> "\"measure\": \"total\", \"pricing\": {\"model\": \"flat\", \"unit_price\": \"1\"}}]}}, "
    <> "\"customers\": {\""
    <> first
    <> "\": \"std\", \""
    <> second
    <> "\": \"std\"}}"
  let assert [#(_, Ok(round1))] =
    shard.close_round(
      [#(index, option.None)],
      shards: index + 1,
      period: "2026-10",
      plans: plans,
      version: 1,
      max_lines: 1,
    )
  expect.equal(round1.next, option.Some(second))
  // Restarted before the next round: it comes back from its snapshot, in
  // which the period is closed, so an event for it is late, not counted
  // into a period that is being billed.
  stop(started.pid)
  let assert Ok(again) = shard.start(config(dir))
  expect.equal(
    send(file, 10, 20, option.Some(customer_line("c", first))),
    Ok(Nil),
  )
  let assert Ok(counters) = shard.counters(index)
  expect.equal(#(counters.applied, counters.late), #(2, 1))
  // The next round, on a shard that lost its cursor, bills the rest.
  let assert [#(_, Ok(round2))] =
    shard.close_round(
      [#(index, round1.next)],
      shards: index + 1,
      period: "2026-10",
      plans: plans,
      version: 1,
      max_lines: 1,
    )
  expect.equal(round2.next, option.None)
  let assert [billing.CustomerTotal(customer: billed, ..)] = round2.totals
  expect.equal(billed, second)
  stop(again.pid)
}

fn customer_line(id: String, customer: String) -> String {
  "{\"id\":\""
  <> id
  <> "\",\"source\":\"/t\",\"subject\":\""
  <> customer
  <> "\",\"time\":\"2026-10-02T00:00:00Z\","
  <> "\"data\":{\"resource\":\"r\",\"meter\":\"requests\",\"value\":1}}\n"
}

// Customer names c0, c1, ... that shard `index` of `index + 1` bills, in
// order.
fn customers_of_shard(n: Int, acc: List(String)) -> List(String) {
  case n, acc {
    _, [_, _] -> bytes.reverse(acc)
    _, _ -> {
      let name = "c" <> bytes.int_to_text(n)
      case
        aggregate.shard_of(on: backend.Gleam, customer: name, shards: index + 1)
      {
        Ok(i) if i == index -> customers_of_shard(n + 1, [name, ..acc])
        _ -> customers_of_shard(n + 1, acc)
      }
    }
  }
}

@external(erlang, "tally_app_test_ffi", "tmp_dir")
fn tmp_dir() -> String

@external(erlang, "tally_app_test_ffi", "write_file")
fn write_file(path: String, bytes: BitArray) -> Nil
