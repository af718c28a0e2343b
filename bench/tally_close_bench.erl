%% A period closed in rounds (aggregator_close_round, 2,500 lines a round,
%% as the release's closer does), on the NIF and on the pure Gleam engine,
%% side by side: CUSTOMERS (default 5000,20000,80000) customers with four
%% resources each, one line a resource. Prints the seconds of each engine,
%% the rounds and lines, and the pure engine's time against the NIF's.
%% Not a test: run with `make bench-close`.
-module(tally_close_bench).
-export([main/0]).

-define(PERIOD, <<"2026-10">>).
-define(PLANS, <<"{\"plans\": {\"std\": {\"currency\": \"EUR\", \"lines\": [{\"meter\": \"requests\", "
                 "\"measure\": \"total\", \"scope\": \"resource\", \"pricing\": {\"model\": \"flat\", "
                 "\"unit_price\": \"1\"}}]}}, \"default_plan\": \"std\"}">>).
-define(ROUND_LINES, 2500).

main() ->
    Sizes = [list_to_integer(S) || S <- string:tokens(os:getenv("CUSTOMERS", "5000,20000,80000"), ",")],
    io:format("~10s ~8s ~9s ~10s ~10s ~8s~n", ["customers", "rounds", "lines", "nif s", "pure s", "pure/nif"]),
    [row(N) || N <- Sizes],
    halt(0).

row(N) ->
    Events = events(N),
    {NifS, Rounds, Lines} = close('tally@nif', Events),
    {PureS, Rounds, Lines} = close('tally@pure', Events),
    io:format("~10b ~8b ~9b ~10.2f ~10.2f ~7.1fx~n", [N, Rounds, Lines, NifS, PureS, PureS / NifS]).

events(N) ->
    T0 = 1790812800000,
    [{usage_event, <<"e", (integer_to_binary(C))/binary, "-", (integer_to_binary(R))/binary>>, <<"bench">>,
      <<"cust-", (integer_to_binary(C))/binary>>, <<"r", (integer_to_binary(R))/binary>>,
      <<"requests">>, 100 + R, T0 + R * 1000}
     || C <- lists:seq(1, N), R <- [0, 1, 2, 3]].

%% Seconds for every round of the close, with the rounds and lines.
close(Engine, Events) ->
    {ok, Agg} = Engine:aggregator_new('tally@usage':default_config()),
    {ok, _} = Engine:aggregator_add_events(Agg, Events),
    erlang:garbage_collect(),
    {Us, {Rounds, Lines}} = timer:tc(fun() -> rounds(Engine, Agg, none, 0, 0) end),
    {Us / 1.0e6, Rounds, Lines}.

rounds(Engine, Agg, From, Rounds, Lines) ->
    {ok, {written_round, Batches, _Totals, _Unbilled, Next}} =
        Engine:aggregator_close_round(Agg, ?PERIOD, ?PLANS, 1, 0, 1, From, ?ROUND_LINES),
    N = lists:sum([element(2, B) || B <- Batches]),
    case Next of
        none -> {Rounds + 1, Lines + N};
        {some, _} -> rounds(Engine, Agg, Next, Rounds + 1, Lines + N)
    end.
