%% @doc Operating the running pipeline: close a period, read everything
%% available now, wait for the outbox to drain, and see what happened.
%% From a shell on a running release:
%%
%%   bin/tally eval 'tally_pipeline:close_period(<<"2026-10">>).'
-module(tally_pipeline).

-export([close_period/1, sync/0, read_to_end/0, drain/1, status/0]).
%% The same for tally/pipeline.gleam, in its types' shapes.
-export([close_period_for_gleam/1, sync_for_gleam/0, drain_for_gleam/1]).

%% Closes and bills the period; its invoice lines are in the outbox when
%% this returns (the publisher sends them on).
-spec close_period(binary()) -> {ok, tally_closer:summary()} | {error, term()}.
close_period(Period) when is_binary(Period) ->
    tally_closer:close_period(Period).

%% Every collector reads what its source holds now and hands it over.
-spec sync() -> ok.
sync() ->
    lists:foreach(fun({_Name, Pid}) -> ok = tally_collector:sync(Pid) end, tally_collectors_sup:collectors()).

%% Every collector reads its source to its end, a last line without a
%% newline included (the files are complete: a period is being closed).
%% A collector that stops meanwhile is an error (it restarts; try again).
-spec read_to_end() -> ok | {error, {read_to_end, binary(), term()}}.
read_to_end() ->
    lists:foldl(fun({Name, Pid}, ok) ->
                        try tally_collector:read_to_end(Pid)
                        catch exit:Reason -> {error, {read_to_end, Name, Reason}}
                        end;
                   (_, Error) -> Error
                end, ok, tally_collectors_sup:collectors()).

%% Waits until the outbox is empty (everything published and acknowledged).
-spec drain(timeout()) -> ok | {error, {outbox_not_empty, non_neg_integer()}}.
drain(TimeoutMs) ->
    Deadline = erlang:monotonic_time(millisecond) + TimeoutMs,
    drain_until(Deadline).

drain_until(Deadline) ->
    case tally_outbox:size(tally_outbox) of
        0 -> ok;
        N ->
            case erlang:monotonic_time(millisecond) >= Deadline of
                true -> {error, {outbox_not_empty, N}};
                false -> timer:sleep(20), drain_until(Deadline)
            end
    end.

%% Counts of every collector, shard and the publisher.
-spec status() -> map().
status() ->
    #{shards := N} = tally_config:get(),
    #{collectors => maps:from_list([{Name, tally_collector:stats(Pid)} || {Name, Pid} <- tally_collectors_sup:collectors()]),
      shards => [tally_shard:counters(tally_shard:name(I)) || I <- lists:seq(0, N - 1)],
      publisher => tally_publisher:stats(tally_publisher),
      closed => tally_closer:closed()}.

-spec close_period_for_gleam(binary()) -> {ok, tuple()} | {error, {pipeline_failed, binary()}}.
close_period_for_gleam(Period) ->
    case close_period(Period) of
        {ok, #{lines := Lines, customers := Customers, unbilled := Unbilled}} ->
            Totals = [{customer_total, C, Cur, A, N}
                      || {C, #{currency := Cur, amount_minor := A, lines := N}} <- lists:sort(maps:to_list(Customers))],
            {ok, {close_summary, Period, Lines, Totals, Unbilled}};
        {error, Reason} ->
            {error, {pipeline_failed, describe(Reason)}}
    end.

-spec sync_for_gleam() -> nil.
sync_for_gleam() ->
    ok = sync(),
    nil.

-spec drain_for_gleam(non_neg_integer()) -> {ok, nil} | {error, {pipeline_failed, binary()}}.
drain_for_gleam(TimeoutMs) ->
    case drain(TimeoutMs) of
        ok -> {ok, nil};
        {error, Reason} -> {error, {pipeline_failed, describe(Reason)}}
    end.

describe(Reason) ->
    unicode:characters_to_binary(io_lib:format("~0p", [Reason])).
