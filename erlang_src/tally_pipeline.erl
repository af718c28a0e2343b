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
-type summary() :: #{period := binary(), lines := non_neg_integer(), voids := non_neg_integer(),
                     customers := #{binary() => #{currency := binary(), amount_minor := integer(),
                                                  lines := pos_integer()}},
                     unbilled := [binary()]}.

%% The closer (tally/app/closer) closes the period; its summary as a map.
-spec close_period(binary()) -> {ok, summary()} | {error, term()}.
close_period(Period) when is_binary(Period) ->
    case 'tally@app@closer':close_period('tally@app@closer':registered(), Period) of
        {ok, {close_summary, P, Lines, Voids, Customers, Unbilled}} ->
            {ok, #{period => P, lines => Lines, voids => Voids, unbilled => Unbilled,
                   customers => maps:map(fun(_, {customer_total, _Customer, Cur, Amount, N}) ->
                                                 #{currency => Cur, amount_minor => Amount, lines => N}
                                         end, Customers)}};
        {error, _} = Error ->
            Error
    end.

%% Every collector reads what its source holds now and hands it over. A
%% collector, or the collectors' supervisor, that restarts meanwhile (a
%% shard crash restarts the collectors after it) is asked again, every
%% 100 ms while the ingest supervisor lives, up to ?SYNC_ATTEMPTS times (a
%% crash loop); no timeout on a sync itself, the reading grows with the
%% input. Fails with the reason when the collectors are gone for good.
-define(SYNC_ATTEMPTS, 600).

-spec sync() -> ok | {error, term()}.
sync() ->
    sync(?SYNC_ATTEMPTS).

sync(Attempts) ->
    try 'tally@app@collectors_supervisor':sources() of
        Sources -> sync_each(Sources, Attempts)
    catch
        exit:Why -> again(fun sync/1, Attempts, {collectors, Why})
    end.

%% Each collector by its source's index (tally@app@collector): one that is
%% not running, or stops meanwhile, exits the call; it is asked again.
sync_each([], _Attempts) ->
    ok;
sync_each([{Name, Index} | Rest] = Sources, Attempts) ->
    Result = try 'tally@app@collector':sync(Index) of
                 nil -> ok
             catch
                 exit:Down -> {restarted, Down}
             end,
    case Result of
        ok -> sync_each(Rest, Attempts);
        {restarted, Why} -> again(fun(A) -> sync_each(Sources, A) end, Attempts, {collector_sync, Name, Why})
    end.

%% Once more after 100 ms, while the ingest supervisor is there to restart things.
again(Fun, Attempts, Why) ->
    case Attempts > 1 andalso is_pid(whereis(tally_ingest_sup)) of
        true ->
            logger:notice(#{msg => "collectors restarting during sync, asking again", reason => Why}),
            timer:sleep(100),
            Fun(Attempts - 1);
        false ->
            {error, Why}
    end.

%% Every collector reads its source to its end, a last line without a
%% newline included (the files are complete: a period is being closed).
%% A collector that stops meanwhile is an error (it restarts; try again).
-spec read_to_end() -> ok | {error, {read_to_end, binary(), term()}}.
read_to_end() ->
    lists:foldl(fun({Name, Index}, ok) ->
                        try 'tally@app@collector':read_to_end(Index) of
                            nil -> ok
                        catch exit:Reason -> {error, {read_to_end, Name, Reason}}
                        end;
                   (_, Error) -> Error
                end, ok, 'tally@app@collectors_supervisor':sources()).

%% Waits until the outbox is empty (everything published and acknowledged).
%% The wait grows with the work: it fails only when nothing was published
%% for StallMs (the sink refuses, or the bus is down that long), naming
%% how many items wait.
-spec drain(timeout()) -> ok | {error, {outbox_stalled, non_neg_integer()}}.
drain(StallMs) ->
    drain_while_moving('tally@app@outbox':size('tally@app@outbox':registered()), erlang:monotonic_time(millisecond), StallMs).

drain_while_moving(0, _Since, _StallMs) ->
    ok;
drain_while_moving(Last, Since, StallMs) ->
    timer:sleep(20),
    Now = erlang:monotonic_time(millisecond),
    case 'tally@app@outbox':size('tally@app@outbox':registered()) of
        0 -> ok;
        N when N < Last -> drain_while_moving(N, Now, StallMs);
        N when StallMs =/= infinity, Now - Since >= StallMs -> {error, {outbox_stalled, N}};
        N -> drain_while_moving(N, Since, StallMs)
    end.

%% Counts of every collector, shard and the publisher.
-spec status() -> map().
status() ->
    #{shards := N} = tally_config:get(),
    Running = [Name || {Name, _} <- 'tally@app@collectors_supervisor':collectors()],
    #{collectors => maps:from_list([{Name, collector_stats('tally@app@collector':stats(I))}
                                    || {Name, I} <- 'tally@app@collectors_supervisor':sources(), lists:member(Name, Running)]),
      shards => [shard_counters('tally@app@shard':counters(I)) || I <- lists:seq(0, N - 1)],
      publisher => publisher_stats(),
      closed => 'tally@app@closer':closed('tally@app@closer':registered())}.

%% The Gleam actors' records (tally/app/collector Stats, tally/app/shard
%% ShardCounters) as the maps status/0 has always given.
collector_stats({stats, Records, Events, Rejected, Skipped, Failures}) ->
    #{records => Records, events => Events, rejected => Rejected, skipped => Skipped, failures => Failures}.

shard_counters({ok, {shard_counters, Applied, Duplicates, Late, Snapshots, Bytes}}) ->
    #{applied => Applied, duplicates => Duplicates, late => Late, snapshots => Snapshots, snapshot_bytes => Bytes};
shard_counters({error, _} = Error) ->
    Error.

%% The publisher's counts (tally/app/publisher) as the summary's map.
publisher_stats() ->
    {stats, Published, Failures, Waiting} = 'tally@app@publisher':stats('tally@app@publisher':registered()),
    #{published => Published, failures => Failures, waiting => Waiting}.

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
