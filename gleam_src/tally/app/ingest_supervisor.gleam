//// The shards, then the collectors, rest_for_one (5 restarts in 10 s): a
//// collector's read position is only as good as the shards' state, so
//// when a shard restarts (from its last snapshot) every collector restarts
//// after it and resumes from the positions the shards now hold. A
//// collector crashing alone is handled below, by
//// `tally/app/collectors_supervisor`. Registered as `tally_ingest_sup`.

import tally/app/collectors_supervisor
import tally/app/config
import tally/app/erlang_child
import tally/otp/dynamic
import tally/otp/names
import tally/otp/process
import tally/otp/static_supervisor
import tally/otp/supervision

/// The supervisor's registered name.
pub const name = "tally_ingest_sup"

/// The shards of `config` (each with 30 s to write its snapshot when
/// stopped), then the collectors' supervisor.
pub fn supervised(
  config: config.Config,
) -> supervision.ChildSpecification(static_supervisor.Supervisor) {
  let builder =
    static_supervisor.new(static_supervisor.RestForOne)
    |> static_supervisor.restart_tolerance(intensity: 5, period: 10)
    |> static_supervisor.named(names.fixed(name))
  legacy_shards(legacy_config())
  |> add_shards(builder)
  |> static_supervisor.add(collectors_supervisor.supervised(config))
  |> static_supervisor.supervised
}

fn add_shards(
  options: List(dynamic.Dynamic),
  builder: static_supervisor.Builder,
) -> static_supervisor.Builder {
  case options {
    [] -> builder
    [shard, ..rest] ->
      add_shards(
        rest,
        static_supervisor.add(
          builder,
          erlang_child.worker(fn() { shard_start_link(shard) })
            |> supervision.timeout(ms: 30_000),
        ),
      )
  }
}

/// Every shard writes its snapshot now (an orderly stop:
/// `tally/app/application.prep_stop`). A shard stopping or restarting
/// meanwhile is skipped: its last snapshot stands.
pub fn snapshot_all() -> Nil {
  snapshot_each(shards(names.fixed(name)))
}

fn snapshot_each(shards: List(process.Pid)) -> Nil {
  case shards {
    [] -> Nil
    [shard, ..rest] -> {
      case catching(fn() { shard_snapshot(shard) }) {
        Ok(Ok(Nil)) -> Nil
        Ok(Error(reason)) -> log_error("snapshot at stop failed", reason)
        Error(_exited) -> Nil
      }
      snapshot_each(rest)
    }
  }
}

@external(erlang, "tally_app_ffi", "worker_pids")
fn shards(supervisor: process.Name(Nil)) -> List(process.Pid)

@external(erlang, "tally_app_ffi", "catching")
fn catching(run: fn() -> a) -> Result(a, dynamic.Dynamic)

@external(erlang, "tally_app_ffi", "log_error")
fn log_error(message: String, reason: dynamic.Dynamic) -> Nil

@external(erlang, "tally_app_ffi", "legacy_config")
fn legacy_config() -> dynamic.Dynamic

@external(erlang, "tally_app_ffi", "legacy_shards")
fn legacy_shards(config: dynamic.Dynamic) -> List(dynamic.Dynamic)

@external(erlang, "tally_shard", "start_link")
fn shard_start_link(
  options: dynamic.Dynamic,
) -> Result(process.Pid, dynamic.Dynamic)

@external(erlang, "tally_app_ffi", "legacy_shard_snapshot")
fn shard_snapshot(shard: process.Pid) -> Result(Nil, dynamic.Dynamic)
