%% @doc The main job (`make run`): with the application running on its
%% configured sources, read them all, close the period named by
%% TALLY_CLOSE_PERIOD, wait until every invoice line is published to the
%% sink, and print a summary per customer.
-module(tally_job).

-export([run/1, run_and_report/1, watched/1]).

%% How long publishing may make no progress before the job gives up (the
%% bus down, a sink refusing): TALLY_STALL_MS, default 5 minutes. A job
%% that gave up exits 1; run again, it publishes what is left.
-define(STALL_MS, 300000).

-spec run(binary()) -> {ok, map()} | {error, term()}.
run(Period) ->
    case tally_pipeline:sync() of
        ok ->
            case tally_pipeline:close_period(Period) of
                {ok, Summary} ->
                    case tally_pipeline:drain(stall_ms()) of
                        ok -> {ok, Summary#{status => tally_pipeline:status()}};
                        Error -> Error
                    end;
                Error ->
                    Error
            end;
        Error ->
            Error
    end.

stall_ms() ->
    case string:to_integer(os:getenv("TALLY_STALL_MS", "")) of
        {Ms, ""} when Ms > 0 -> Ms;
        _ -> ?STALL_MS
    end.

%% Runs the job and prints what it did; any failure, a crash included, is
%% printed with its reason and gives 1.
-spec run_and_report(binary()) -> 0 | 1.
run_and_report(Period) ->
    Result = try run(Period)
             catch Class:Crash:Stack -> {error, {Class, Crash, Stack}}
             end,
    case Result of
        {ok, #{lines := Lines, customers := Customers, unbilled := Unbilled,
               status := #{collectors := Collectors, publisher := Publisher}}} ->
            io:format("tally: billed ~s~n", [Period]),
            [io:format("  source ~-10s ~6b records, ~6b events, ~b rejected~s~n",
                       [Name, R, E, J, rejects_hint(J)])
             || {Name, #{records := R, events := E, rejected := J}} <- lists:sort(maps:to_list(Collectors))],
            io:format("  ~b invoice lines, ~b published to the sink~n", [Lines, maps:get(published, Publisher)]),
            [io:format("  ~-66s ~3b lines ~12s ~s~n", [C, N, money(A), Cur])
             || {C, #{lines := N, amount_minor := A, currency := Cur}} <- lists:sort(maps:to_list(Customers))],
            [io:format("  ~s: usage but no plan, not billed~n", [C]) || C <- Unbilled],
            0;
        {error, Reason} ->
            io:format(standard_error, "tally job failed: ~p~n", [Reason]),
            1
    end.

%% The rejects file is named only where there is something in it.
rejects_hint(0) -> "";
rejects_hint(_) -> " (see rejects.jsonl)".

%% Runs Job (which returns an exit status) in a process of its own and
%% waits for it: whatever ends it (done, a crash, an exit signal) gives a
%% status, 1 with the reason printed when it did not return one.
-spec watched(fun(() -> 0 | 1)) -> 0 | 1.
watched(Job) ->
    Self = self(),
    {Pid, Ref} = spawn_monitor(fun() -> Self ! {self(), status, Job()} end),
    receive
        {Pid, status, S} ->
            erlang:demonitor(Ref, [flush]),
            S;
        {'DOWN', Ref, process, Pid, Reason} ->
            io:format(standard_error, "tally job failed: ~p~n", [Reason]),
            1
    end.

%% Minor units as a decimal amount with two places.
money(Minor) ->
    Sign = case Minor < 0 of true -> "-"; false -> "" end,
    A = abs(Minor),
    lists:flatten(io_lib:format("~s~b.~2..0b", [Sign, A div 100, A rem 100])).
