//// One collector per configured source, one_for_one (10 restarts in
//// 10 s): a collector that crashes (an unreadable file, say) restarts
//// alone and resumes from the shards' positions; the others and
//// aggregation carry on. Registered as `tally_collectors_sup`.

import tally/app/collector
import tally/app/config
import tally/app/engine_backend
import tally/event
import tally/option
import tally/otp/names
import tally/otp/process
import tally/otp/static_supervisor
import tally/otp/supervision

/// The supervisor's registered name.
pub const name = "tally_collectors_sup"

/// The collectors of `config`'s sources, in their order.
pub fn supervised(
  config: config.Config,
) -> supervision.ChildSpecification(static_supervisor.Supervisor) {
  let builder =
    static_supervisor.new(static_supervisor.OneForOne)
    |> static_supervisor.restart_tolerance(intensity: 10, period: 10)
    |> static_supervisor.named(names.fixed(name))
  add_each(config, config.sources, 0, builder)
  |> static_supervisor.supervised
}

fn add_each(
  config: config.Config,
  sources: List(config.Source),
  index: Int,
  builder: static_supervisor.Builder,
) -> static_supervisor.Builder {
  case sources {
    [] -> builder
    [source, ..rest] ->
      add_each(
        config,
        rest,
        index + 1,
        static_supervisor.add(
          builder,
          collector.supervised(collector_config(config, source, index)),
        ),
      )
  }
}

/// The collector's settings for `source`, the `index`th of `config`.
pub fn collector_config(
  config: config.Config,
  source: config.Source,
  index: Int,
) -> collector.Config {
  collector.Config(
    index: index,
    name: source.name,
    format: source.format,
    path: source.path,
    backend: engine_backend.of(source.engine),
    options: event.ParserOptions(
      max_line: source.max_line,
      // JSON Lines events name their source; the other formats' take the source's name.
      source: case source.format {
        event.JsonLines -> option.None
        _ -> option.Some(source.name)
      },
      s3_customer: source.s3_customer,
      // The source's dedup travels with its batches.
      dedup: source.dedup,
    ),
    shards: config.shards,
    data_dir: config.data_dir,
    poll_ms: source.poll_ms,
    chunk_bytes: source.chunk_bytes,
  )
}

/// Every configured source's name and index (its collector's, see
/// `collector.sync`), in order.
pub fn sources() -> List(#(String, Int)) {
  case config.current() {
    Ok(c) -> indexed(c.sources, 0)
    Error(Nil) -> []
  }
}

fn indexed(sources: List(config.Source), index: Int) -> List(#(String, Int)) {
  case sources {
    [] -> []
    [source, ..rest] -> [#(source.name, index), ..indexed(rest, index + 1)]
  }
}

/// The running collectors by source name, in the configuration's order
/// (a collector restarting at that moment is left out).
pub fn collectors() -> List(#(String, process.Pid)) {
  case config.current() {
    Ok(c) -> running(c.sources, 0)
    Error(Nil) -> []
  }
}

fn running(
  sources: List(config.Source),
  index: Int,
) -> List(#(String, process.Pid)) {
  case sources {
    [] -> []
    [source, ..rest] ->
      case child(names.fixed(name), index) {
        Ok(pid) -> [#(source.name, pid), ..running(rest, index + 1)]
        Error(Nil) -> running(rest, index + 1)
      }
  }
}

@external(erlang, "tally_app_ffi", "supervisor_child")
fn child(supervisor: process.Name(Nil), index: Int) -> Result(process.Pid, Nil)
