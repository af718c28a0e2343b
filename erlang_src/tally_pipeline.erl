%% @doc The operators' Erlang face of the running system
%% (tally/app/operations, where the work is done): the same operations
%% with plain maps, for a shell on a running release
%%
%%   bin/tally eval 'tally_pipeline:close_period(<<"2026-10">>).'
%%
%% and for the Erlang end-to-end tests. Errors are the Gleam values
%% (`{collector_sync, Source, Why}`, `{read_to_end, Source, Why}`,
%% `{outbox_stalled, Waiting}`, the closer's `tally/app/closer.CloseError`).
-module(tally_pipeline).

-export([close_period/1, sync/0, read_to_end/0, drain/1, status/0]).

-type summary() :: #{period := binary(), lines := non_neg_integer(), voids := non_neg_integer(),
                     customers := non_neg_integer(),
                     currencies := #{binary() => #{amount_minor := integer(), lines := non_neg_integer(),
                                                   customers := non_neg_integer()}},
                     totals_path := binary(),
                     unbilled := [binary()]}.
-export_type([summary/0]).

%% Closes and bills the period; its invoice lines are in the outbox when
%% this returns (the publisher sends them on). Each customer's total is in
%% the file at `totals_path' (one JSON object a line: customer, currency,
%% amount_minor, lines); the summary sums them per currency.
-spec close_period(binary()) -> {ok, summary()} | {error, term()}.
close_period(Period) when is_binary(Period) ->
    case 'tally@app@operations':close_period(Period) of
        {ok, {close_summary, P, Lines, Voids, Customers, Currencies, TotalsPath, Unbilled}} ->
            {ok, #{period => P, lines => Lines, voids => Voids, customers => Customers,
                   currencies => maps:from_list([{C, #{amount_minor => A, lines => L, customers => N}}
                                                 || {currency_total, C, A, L, N} <- Currencies]),
                   totals_path => TotalsPath, unbilled => Unbilled}};
        {error, _} = Error ->
            Error
    end.

%% Every collector reads what its source holds now and hands it over.
-spec sync() -> ok | {error, term()}.
sync() -> ok('tally@app@operations':sync()).

%% Every collector reads its source to its end (before a close).
-spec read_to_end() -> ok | {error, term()}.
read_to_end() -> ok('tally@app@operations':read_to_end()).

%% Waits until the outbox is empty, failing only when nothing was
%% published for StallMs.
-spec drain(timeout()) -> ok | {error, {outbox_stalled, non_neg_integer()}}.
drain(infinity) -> drain(1 bsl 59);
drain(StallMs) -> ok('tally@app@operations':drain(StallMs)).

%% Counts of every collector, shard and the publisher, and the closed periods.
-spec status() -> map().
status() ->
    {status, Collectors, Shards, {stats, Published, Failures, Waiting}, Closed} = 'tally@app@operations':status(),
    #{collectors => maps:from_list([{Name, #{records => R, events => E, rejected => J, skipped => S, failures => F,
                                             missing => M}}
                                    || {Name, {stats, R, E, J, S, F, M}} <- Collectors]),
      shards => [case Counters of
                     {ok, {shard_counters, Applied, Duplicates, Late, Snapshots, Bytes}} ->
                         #{applied => Applied, duplicates => Duplicates, late => Late, snapshots => Snapshots,
                           snapshot_bytes => Bytes};
                     {error, _} = Error ->
                         Error
                 end || Counters <- Shards],
      publisher => #{published => Published, failures => Failures, waiting => Waiting},
      closed => Closed}.

ok({ok, nil}) -> ok;
ok({error, _} = Error) -> Error.
