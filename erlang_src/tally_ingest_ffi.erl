%% @doc The few calls of the ingest actors (tally/app/shard, collector, log)
%% that Gleam cannot make itself: registered names fixed by the
%% application (`tally_shard_0`), catching the exit of a call to a process
%% that stops, the monotonic clock and the release's default port.
-module(tally_ingest_ffi).

-export([fixed_name/1, catch_exit/1, inspect/1, monotonic_ms/0, release_port_ref/0]).

%% The atom of a name the application fixes (never from input).
-spec fixed_name(binary()) -> atom().
fixed_name(Name) -> binary_to_atom(Name).

%% Runs Body; {error, nil} when it exits (a call to a process that stopped).
-spec catch_exit(fun(() -> T)) -> {ok, T} | {error, nil}.
catch_exit(Body) ->
    try {ok, Body()}
    catch exit:_ -> {error, nil}
    end.

%% Any term as text, for logs and exit reasons.
-spec inspect(term()) -> binary().
inspect(Term) -> unicode:characters_to_binary(io_lib:format("~0tp", [Term])).

-spec monotonic_ms() -> integer().
monotonic_ms() -> erlang:monotonic_time(millisecond).

%% The release's engine port, supervised by tally_port_sup under this name.
-spec release_port_ref() -> atom().
release_port_ref() -> tally_port_default.
