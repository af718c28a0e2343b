//// The tally OTP application: the start module named in gleam.toml
//// (`[erlang] application_start_module`) and in the `.app` (`mod`).
////
//// `start` decodes the configuration once (`tally/app/config`; a bad
//// sys.config stops the application with the reason, naming the key) and
//// starts the tree (`tally/app/tree`). With no sources the tree is empty:
//// tally started as a dependency reads and writes nothing. When
//// TALLY_CLOSE_PERIOD names a period (`make run`), the job runs once the
//// application has started (`tally/app/job`), prints what it did and
//// stops the node with its status.

import tally/app/config
import tally/app/erlang_child
import tally/app/ingest_supervisor
import tally/app/job
import tally/app/tree
import tally/option
import tally/otp/dynamic
import tally/otp/process

/// OTP's `start/2`: `{ok, Pid}` of the tree, or `{error, Reason}`
/// (`{bad_config, Text}` for a bad configuration).
pub fn start(
  _start_type: dynamic.Dynamic,
  _arguments: dynamic.Dynamic,
) -> Result(process.Pid, dynamic.Dynamic) {
  case config.load() {
    Error(error) -> {
      let text = config.describe_error(error)
      log_error(text)
      Error(dynamic.from(#(bad_config(), text)))
    }
    Ok(c) ->
      case tree.start(c) {
        Ok(started) -> {
          maybe_run_job(os_env("TALLY_CLOSE_PERIOD"))
          Ok(started.pid)
        }
        Error(error) -> Error(erlang_child.start_error_reason(error))
      }
  }
}

/// OTP's `prep_stop/1`: before the tree stops, the shards save what they
/// hold.
pub fn prep_stop(state: dynamic.Dynamic) -> dynamic.Dynamic {
  ingest_supervisor.snapshot_all()
  state
}

/// OTP's `stop/1`: nothing left to do (the tree has stopped).
pub fn stop(_state: dynamic.Dynamic) -> Nil {
  Nil
}

// The job runs beside the application, watched by a second process:
// whatever ends the job (done, failed, killed), the node stops with a
// status, never hangs.
fn maybe_run_job(period: option.Option(String)) -> Nil {
  case period {
    option.None -> Nil
    option.Some(period) -> {
      process.spawn_unlinked(fn() {
        let status = job.watched(fn() { job.run_and_report(period) })
        stop_node(status)
      })
      Nil
    }
  }
}

@external(erlang, "tally_config_ffi", "os_env")
fn os_env(name: String) -> option.Option(String)

@external(erlang, "tally_app_ffi", "stop_node")
fn stop_node(status: Int) -> Nil

@external(erlang, "tally_app_ffi", "bad_config")
fn bad_config() -> dynamic.Dynamic

@external(erlang, "tally_app_ffi", "log_config_error")
fn log_error(text: String) -> Nil
