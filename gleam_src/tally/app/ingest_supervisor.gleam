//// The shards, then the collectors, rest_for_one (5 restarts in 10 s): a
//// collector's read position is only as good as the shards' state, so
//// when a shard restarts (from its last snapshot) every collector restarts
//// after it and resumes from the positions the shards now hold. A
//// collector crashing alone is handled below, by
//// `tally/app/collectors_supervisor`. Registered as `tally_ingest_sup`.

import tally/app/collectors_supervisor
import tally/app/config
import tally/app/engine_backend
import tally/app/files
import tally/app/shard
import tally/otp/names
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
  add_shards(config, 0, builder)
  |> static_supervisor.add(collectors_supervisor.supervised(config))
  |> static_supervisor.supervised
}

fn add_shards(
  config: config.Config,
  index: Int,
  builder: static_supervisor.Builder,
) -> static_supervisor.Builder {
  case index < config.shards {
    False -> builder
    True ->
      add_shards(
        config,
        index + 1,
        static_supervisor.add(
          builder,
          shard.supervised(shard.Config(
            index: index,
            backend: engine_backend.of(config.engine),
            dir: files.join(config.data_dir, "shards"),
            aggregator: config.aggregator,
            snapshot_ms: config.snapshot_ms,
            snapshot_bytes: config.snapshot_bytes,
          ))
            |> supervision.timeout(ms: 30_000),
        ),
      )
  }
}

/// Every shard writes its snapshot now (an orderly stop:
/// `tally/app/application.prep_stop`). A shard stopping or restarting
/// meanwhile is skipped: its last snapshot stands.
pub fn snapshot_all() -> Nil {
  case config.current() {
    Ok(c) -> shard.snapshot_all(c.shards)
    Error(Nil) -> Nil
  }
}
