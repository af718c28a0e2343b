%% @doc One way for the OTP side to call the Rust engine, whichever backend
%% the configuration names: `nif` (in the VM) or `port` (the supervised
%% default port, `tally_port_default`). Both return the same terms.
-module(tally_engine).

-export([call/3]).

-type backend() :: nif | port.
-export_type([backend/0]).

-spec call(backend(), atom(), [term()]) -> {ok, term()} | {error, term()}.
call(nif, Op, Args) -> apply(tally_nif, Op, Args);
call(port, Op, Args) -> tally_port:call(tally_port_default, Op, list_to_tuple(Args)).
