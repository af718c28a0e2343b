%% @doc One port: its owner (tally_port) and the journal the owner keeps of
%% the port's state. The journal is an ETS table owned by this supervisor,
%% so it outlives every owner: when the port's OS process dies, its owner
%% stops, this supervisor starts a new one, and the new owner rebuilds the
%% port's state from the journal (last checkpoint plus the operations
%% since). Callers hold a reference (`tally_port:ref()`) that finds
%% whichever owner is current.
%%
%% 10 restarts in 10 s means the port cannot stay up: give up and let the
%% supervisor above decide (`restart_intensity => {Restarts, Seconds}`
%% changes that, for soak tests that kill the port on purpose).
-module(tally_port_sup).
-behaviour(supervisor).

-export([start_link/1, start/1, init/1]).

-spec start_link(map()) -> {ok, pid()} | {error, term()}.
start_link(Opts) ->
    supervisor:start_link(?MODULE, Opts).

%% Started on its own, not linked to the caller (for tally/port.gleam and tests).
-spec start(map()) -> {ok, pid()} | {error, term()}.
start(Opts) ->
    case supervisor:start_link(?MODULE, Opts) of
        {ok, Sup} -> unlink(Sup), {ok, Sup};
        Error -> Error
    end.

-spec init(map()) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init(Opts) ->
    Journal = tally_port_log:new_table(),
    {Intensity, Period} = maps:get(restart_intensity, Opts, {10, 10}),
    Flags = #{strategy => one_for_one, intensity => Intensity, period => Period},
    Owner = #{id => owner,
              start => {tally_port, start_link, [maps:remove(restart_intensity, Opts#{journal => Journal})]},
              restart => permanent, shutdown => 5000,
              type => worker, modules => [tally_port]},
    {ok, {Flags, [Owner]}}.
