%% @doc The main job (`make run`): with the application running on its
%% configured sources, read them all, close the period named by
%% TALLY_CLOSE_PERIOD, wait until every invoice line is published to the
%% sink, and print a summary per customer.
-module(tally_job).

-export([run/1, run_and_report/1]).

-spec run(binary()) -> {ok, map()} | {error, term()}.
run(Period) ->
    ok = tally_pipeline:sync(),
    case tally_pipeline:close_period(Period) of
        {ok, Summary} ->
            case tally_pipeline:drain(60000) of
                ok -> {ok, Summary#{status => tally_pipeline:status()}};
                Error -> Error
            end;
        Error ->
            Error
    end.

-spec run_and_report(binary()) -> 0 | 1.
run_and_report(Period) ->
    case run(Period) of
        {ok, #{lines := Lines, customers := Customers, unbilled := Unbilled,
               status := #{collectors := Collectors, publisher := Publisher}}} ->
            io:format("tally: billed ~s~n", [Period]),
            [io:format("  source ~-10s ~6b records, ~6b events, ~b rejected (see rejects.jsonl)~n",
                       [Name, R, E, J]) || {Name, #{records := R, events := E, rejected := J}} <- lists:sort(maps:to_list(Collectors))],
            io:format("  ~b invoice lines, ~b published to the sink~n", [Lines, maps:get(published, Publisher)]),
            [io:format("  ~-66s ~3b lines ~12s ~s~n", [C, N, money(A), Cur])
             || {C, #{lines := N, amount_minor := A, currency := Cur}} <- lists:sort(maps:to_list(Customers))],
            [io:format("  ~s: usage but no plan, not billed~n", [C]) || C <- Unbilled],
            0;
        {error, Reason} ->
            io:format(standard_error, "tally job failed: ~p~n", [Reason]),
            1
    end.

%% Minor units as a decimal amount with two places.
money(Minor) ->
    Sign = case Minor < 0 of true -> "-"; false -> "" end,
    A = abs(Minor),
    lists:flatten(io_lib:format("~s~b.~2..0b", [Sign, A div 100, A rem 100])).
