//// One collector per configured source, one_for_one (10 restarts in
//// 10 s): a collector that crashes (an unreadable file, say) restarts
//// alone and resumes from the shards' positions; the others and
//// aggregation carry on. Registered as `tally_collectors_sup`.

import tally/app/config
import tally/app/erlang_child
import tally/otp/dynamic
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
  let _ = config
  let builder =
    static_supervisor.new(static_supervisor.OneForOne)
    |> static_supervisor.restart_tolerance(intensity: 10, period: 10)
    |> static_supervisor.named(names.fixed(name))
  legacy_collectors(legacy_config())
  |> add_each(builder)
  |> static_supervisor.supervised
}

fn add_each(
  options: List(dynamic.Dynamic),
  builder: static_supervisor.Builder,
) -> static_supervisor.Builder {
  case options {
    [] -> builder
    [source, ..rest] ->
      add_each(
        rest,
        static_supervisor.add(
          builder,
          erlang_child.worker(fn() { collector_start_link(source) }),
        ),
      )
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

@external(erlang, "tally_app_ffi", "legacy_config")
fn legacy_config() -> dynamic.Dynamic

@external(erlang, "tally_app_ffi", "legacy_collectors")
fn legacy_collectors(config: dynamic.Dynamic) -> List(dynamic.Dynamic)

@external(erlang, "tally_collector", "start_link")
fn collector_start_link(
  options: dynamic.Dynamic,
) -> Result(process.Pid, dynamic.Dynamic)
