%% The engine NIFs from Erlang: exact raw terms, no atoms from input,
%% scheduling under load, concurrent use of one aggregator.
-module(tally_nif_engine_tests).
-include_lib("eunit/include/eunit.hrl").

-define(OPTIONS, {parser_options, 1048576, none, bucket_owner}).
-define(CONFIG, {aggregator_config, hour, true, [<<"bandwidth_out_bytes">>], [<<"storage_bytes">>], [], 172800000}).
-define(OCT1, 1790812800000).

line(Id, Customer, Value) ->
    iolist_to_binary(["{\"id\":\"", Id, "\",\"source\":\"s\",\"subject\":\"", Customer,
                      "\",\"time\":\"2026-10-01T00:00:01Z\",\"data\":{\"resource\":\"r\",\"meter\":\"requests\",\"value\":",
                      integer_to_binary(Value), "}}\n"]).

parse_chunk_raw_terms_test() ->
    Csv = <<"timestamp,customer,bucket,bytes\n2026-10-01T00:00:00Z,acme,b1,10\nbad\n">>,
    ?assertEqual(
       {ok, {parsed,
             [{usage_event, <<"acme/b1/1790812800000">>, <<"storage_csv">>, <<"acme">>, <<"b1">>,
               <<"storage_bytes">>, 10, ?OCT1}],
             [{reject, storage_csv, 3, 64, {wrong_field_count, 4, 1}, <<"bad">>}],
             {parse_stats, 3, 1, 1, 1, 1, 68}}},
       tally_nif:parse_chunk(storage_csv, ?OPTIONS, Csv)),
    ?assertEqual({error, {bad_argument, <<"a Format">>}}, tally_nif:parse_chunk(not_a_format, ?OPTIONS, Csv)).

aggregator_raw_terms_test() ->
    {ok, Agg} = tally_nif:aggregator_new(?CONFIG),
    ?assert(is_reference(Agg)),
    Event = {usage_event, <<"e1">>, <<"s">>, <<"acme">>, <<"r">>, <<"requests">>, 3, ?OCT1},
    ?assertEqual({ok, {counters, 1, 0, 0}}, tally_nif:aggregator_add_events(Agg, [Event])),
    ?assertEqual({ok, [{window_aggregate, <<"acme">>, <<"r">>, <<"requests">>, ?OCT1, 3, 1, 3, 3, 3, ?OCT1, none}]},
                 tally_nif:aggregator_windows(Agg)),
    {ok, Bytes} = tally_nif:aggregator_export(Agg),
    {ok, Copy} = tally_nif:aggregator_restore(Bytes),
    ?assertEqual({ok, Bytes}, tally_nif:aggregator_export(Copy)),
    ?assertEqual({error, {bad_argument, <<"two different aggregators">>}}, tally_nif:aggregator_merge(Agg, Agg)),
    ?assertEqual({error, {aggregate_failed, {overlap, <<"2026-10">>, 1}}}, tally_nif:aggregator_merge(Agg, Copy)),
    ?assertEqual({error, {bad_argument, <<"a UsageEvent">>}}, tally_nif:aggregator_add_events(Agg, [tally_test_support:ill_typed(not_an_event)])),
    ?assertEqual({error, {bad_argument, <<"AggregatorConfig">>}}, tally_nif:aggregator_new({aggregator_config})).

%% The NIF's own atoms (tags like feed_result) come from a fixed set in its
%% code: one round of calls creates those, a second round with new input
%% must create none.
no_atom_is_created_from_input_test() ->
    Round = fun() ->
        {ok, Agg} = tally_nif:aggregator_new(?CONFIG),
        {ok, Parser} = tally_nif:parser_new(json_lines, ?OPTIONS),
        Novel = <<"never_an_atom_", (integer_to_binary(erlang:unique_integer([positive])))/binary>>,
        {ok, _} = tally_nif:aggregator_feed(Agg, Parser, line(Novel, Novel, 1)),
        {ok, _} = tally_nif:aggregator_feed(Agg, Parser, <<"{\"", Novel/binary, "\":1}\n">>),
        {ok, _} = tally_nif:aggregator_windows(Agg),
        {ok, _} = tally_nif:parse_chunk(json_lines, ?OPTIONS, <<"{\"", Novel/binary, "\":1}\n">>),
        _ = tally_nif:parse_chunk(json_lines, {parser_options, 10, {some, Novel}, requester}, line(Novel, Novel, 2)),
        _ = tally_nif:aggregator_close_period(Agg, <<"2026-10">>, <<"{\"plans\": {}, \"customers\": {\"", Novel/binary, "\": \"x\"}}">>, 1),
        ok
    end,
    ok = Round(),
    Before = erlang:system_info(atom_count),
    ok = Round(),
    ?assertEqual(Before, erlang:system_info(atom_count)).

%% Many megabytes through the NIF while the long-schedule monitor watches:
%% no process may run over 1 ms on a normal scheduler. A probe process
%% measures how late its own timers fire and prints the worst case.
long_inputs_never_block_a_scheduler_test_() ->
    {timeout, 120, fun long_inputs_never_block_a_scheduler/0}.

long_inputs_never_block_a_scheduler() ->
    Chunk = iolist_to_binary([line(integer_to_binary(I), <<"c", (integer_to_binary(I rem 100))/binary>>, I)
                              || I <- lists:seq(1, 8000)]),
    Chunks = [binary:copy(Chunk) || _ <- lists:seq(1, 30)],
    MB = byte_size(Chunk) * length(Chunks) / 1048576,
    {ok, Agg} = tally_nif:aggregator_new(?CONFIG),
    {ok, Parser} = tally_nif:parser_new(json_lines, ?OPTIONS),
    Self = self(),
    Probe = spawn_link(fun() -> probe(Self, 0) end),
    _ = erlang:system_monitor(Self, [{long_schedule, 1}]),
    Feeder = spawn_link(fun() ->
                            _ = [{ok, _} = tally_nif:aggregator_feed(Agg, Parser, C) || C <- Chunks],
                            {ok, _} = tally_nif:parse_chunk(json_lines, ?OPTIONS, Chunk),
                            {ok, _} = tally_nif:aggregator_windows(Agg),
                            {ok, _} = tally_nif:aggregator_export(Agg),
                            Self ! {fed, self()}
                        end),
    receive {fed, Feeder} -> ok after 100000 -> error(feeding_timed_out) end,
    _ = erlang:system_monitor(undefined),
    Probe ! stop,
    Worst = receive {probe, W} -> W after 5000 -> error(no_probe_report) end,
    Long = flush_long_schedules([]),
    io:format(user, "~n  fed ~.1f MB through the NIF; probe's worst timer lateness ~.2f ms; "
                    "long schedules over 1 ms: ~p~n", [MB, Worst / 1000, length(Long)]),
    ?assertEqual({ok, {counters, 8000, 8000 * 29, 0}}, tally_nif:aggregator_counters(Agg)),
    ?assertEqual([], [L || L = {Pid, _, _} <- Long, Pid =:= Feeder]),
    ?assertEqual([], Long).

probe(Parent, Worst) ->
    T0 = erlang:monotonic_time(microsecond),
    receive
        stop -> Parent ! {probe, Worst}
    after 1 ->
        Late = erlang:monotonic_time(microsecond) - T0 - 1000,
        probe(Parent, max(Worst, Late))
    end.

flush_long_schedules(Acc) ->
    receive
        {monitor, Pid, long_schedule, Info} -> flush_long_schedules([{Pid, long_schedule, Info} | Acc])
    after 0 -> Acc
    end.

%% Eight processes add disjoint events to one aggregator at once; the totals
%% equal those of one process adding them all.
concurrent_calls_give_serial_totals_test_() ->
    {timeout, 60, fun concurrent_calls_give_serial_totals/0}.

concurrent_calls_give_serial_totals() ->
    Events = fun(Worker) ->
                 [{usage_event, <<(integer_to_binary(Worker))/binary, "-", (integer_to_binary(I))/binary>>,
                   <<"s">>, <<"c", (integer_to_binary(I rem 7))/binary>>, <<"r">>, <<"requests">>, I,
                   ?OCT1 + I * 1000} || I <- lists:seq(1, 5000)]
             end,
    {ok, Shared} = tally_nif:aggregator_new(?CONFIG),
    Self = self(),
    Pids = [spawn_link(fun() ->
                           _ = [{ok, _} = tally_nif:aggregator_add_events(Shared, Batch)
                                || Batch <- batches(Events(W), 250)],
                           Self ! {done, self()}
                       end) || W <- lists:seq(1, 8)],
    [receive {done, P} -> ok after 30000 -> error(timeout) end || P <- Pids],
    {ok, Serial} = tally_nif:aggregator_new(?CONFIG),
    _ = [{ok, _} = tally_nif:aggregator_add_events(Serial, Events(W)) || W <- lists:seq(1, 8)],
    ?assertEqual(tally_nif:aggregator_windows(Serial), tally_nif:aggregator_windows(Shared)),
    ?assertEqual({ok, {counters, 40000, 0, 0}}, tally_nif:aggregator_counters(Shared)).

batches([], _) -> [];
batches(L, N) when length(L) =< N -> [L];
batches(L, N) -> {B, Rest} = lists:split(N, L), [B | batches(Rest, N)].
