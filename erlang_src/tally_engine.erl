%% @doc One way for the OTP side to call the engine, whichever backend the
%% configuration names: `nif` (Rust in the VM), `port` (Rust in the
%% supervised default port, `tally_port_default`) or `gleam` (the pure
%% Gleam engine, `tally@pure`). All return the same terms.
-module(tally_engine).

-export([call/3]).

-type backend() :: nif | port | gleam.
-export_type([backend/0]).

-spec call(backend(), atom(), [term()]) -> {ok, term()} | {error, term()}.
call(nif, Op, Args) -> apply(tally_nif, Op, Args);
call(port, Op, Args) -> tally_port:call(tally_port_default, Op, list_to_tuple(Args));
call(gleam, Op, Args) -> apply('tally@pure', Op, Args).
