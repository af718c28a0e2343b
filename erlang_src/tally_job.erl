%% @doc A one-off job over a JSON Lines file: parse every line through the
%% NIF and through the supervised port, check that both engines agree, and
%% print per-customer totals. It grows into the billing run.
-module(tally_job).

-export([run/1, run_and_report/1]).

-type summary() :: #{lines := non_neg_integer(),
                     events := non_neg_integer(),
                     rejects := [{pos_integer(), term()}],
                     disagreements := non_neg_integer(),
                     totals := #{{binary(), binary()} => non_neg_integer()}}.

-spec run(file:filename()) -> {ok, summary()} | {error, term()}.
run(Path) ->
    case file:read_file(Path) of
        {ok, Bin} ->
            Lines = [L || L <- binary:split(Bin, <<"\n">>, [global]), L =/= <<>>],
            {ok, lists:foldl(fun parse_one/2, empty(), number(Lines))};
        {error, Reason} ->
            {error, {Path, Reason}}
    end.

-spec run_and_report(file:filename()) -> 0 | 1.
run_and_report(Path) ->
    case run(Path) of
        {ok, #{lines := N, events := E, rejects := R, disagreements := D, totals := T}} ->
            io:format("tally job: ~s~n", [Path]),
            io:format("  ~b lines, ~b events, ~b rejected; NIF and port disagree on ~b~n",
                      [N, E, length(R), D]),
            [io:format("  rejected line ~b: ~p~n", [Line, Reason]) || {Line, Reason} <- lists:reverse(R)],
            [io:format("  ~-12s ~-24s ~b~n", [C, M, V]) || {{C, M}, V} <- lists:sort(maps:to_list(T))],
            case D of 0 -> 0; _ -> 1 end;
        {error, Reason} ->
            io:format(standard_error, "tally job failed: ~p~n", [Reason]),
            1
    end.

empty() ->
    #{lines => 0, events => 0, rejects => [], disagreements => 0, totals => #{}}.

number(Lines) ->
    lists:zip(lists:seq(1, length(Lines)), Lines).

parse_one({LineNo, Line}, Acc0) ->
    Nif = tally_nif:parse_event_line(Line),
    Port = tally_port:call(tally_port_default, parse_event_line, {Line}),
    Acc = maps:update_with(lines, fun(N) -> N + 1 end, Acc0),
    Acc1 = case Nif =:= Port of
               true -> Acc;
               false -> maps:update_with(disagreements, fun(N) -> N + 1 end, Acc)
           end,
    case Nif of
        {ok, {ok, {usage_event, _Id, _Source, Customer, _Resource, Meter, Value, _Time}}} ->
            Totals = maps:update_with({Customer, Meter}, fun(V) -> V + Value end, Value,
                                      maps:get(totals, Acc1)),
            Acc1#{events := maps:get(events, Acc1) + 1, totals := Totals};
        {ok, {error, Reason}} ->
            Acc1#{rejects := [{LineNo, Reason} | maps:get(rejects, Acc1)]};
        {error, EngineError} ->
            Acc1#{rejects := [{LineNo, {engine_error, EngineError}} | maps:get(rejects, Acc1)]}
    end.
