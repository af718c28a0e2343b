%% The outbox, the file sink and the publisher between them: durable
%% items, removal only on acknowledgement, dedup by key, and retries with
%% backoff while the bus is down.
-module(tally_outbox_tests).
-include_lib("eunit/include/eunit.hrl").

tmp_dir() -> string:trim(os:cmd("mktemp -d -t tally-outbox-XXXXXX")).

items(Keys) -> [{K, <<"tally.invoices">>, <<"{\"key\":\"", K/binary, "\"}">>} || K <- Keys].

outbox_survives_a_restart_and_dedups_by_key_test() ->
    Dir = tmp_dir(),
    {ok, O} = tally_outbox:start_link(#{dir => Dir}),
    ok = tally_outbox:put(O, items([<<"a">>, <<"b">>, <<"a">>])),
    ok = tally_outbox:put(O, items([<<"b">>, <<"c">>])),
    ?assertEqual(3, tally_outbox:size(O)),
    ok = tally_outbox:ack(O, [<<"b">>]),
    unlink(O), exit(O, kill),
    %% A put cut off before its rename leaves a .tmp file behind: not an item.
    ok = file:write_file(filename:join(Dir, "00000000000000ff.item.tmp"), <<"half">>),
    {ok, O2} = tally_outbox:start_link(#{dir => Dir}),
    ?assertEqual(items([<<"a">>, <<"c">>]), tally_outbox:peek(O2, 10)),
    ok = tally_outbox:put(O2, items([<<"d">>])),
    ?assertEqual([<<"a">>, <<"c">>, <<"d">>], [K || {K, _, _} <- tally_outbox:peek(O2, 10)]),
    ?assertEqual([], filelib:wildcard("*.tmp", Dir)).

publisher_drains_into_the_file_sink_once_per_key_test() ->
    Dir = tmp_dir(),
    Sink = filename:join(Dir, "invoices.jsonl"),
    {ok, O} = tally_outbox:start_link(#{dir => filename:join(Dir, "outbox")}),
    %% A previous run wrote "a" to the file but crashed before acking it.
    ok = file:write_file(Sink, <<"{\"key\":\"a\"}\n">>),
    ok = tally_outbox:put(O, items([<<"a">>, <<"b">>])),
    {ok, P} = tally_publisher:start_link(#{outbox => O, sink => {tally_sink_file, #{path => Sink}}, batch => 1}),
    ok = tally_outbox:put(O, items([<<"c">>])),
    ok = wait_empty(O, 100),
    {ok, Bin} = file:read_file(Sink),
    ?assertEqual(<<"{\"key\":\"a\"}\n{\"key\":\"b\"}\n{\"key\":\"c\"}\n">>, Bin),
    ?assertMatch(#{published := 3, failures := 0}, tally_publisher:stats(P)).

wait_empty(_O, 0) -> {error, not_drained};
wait_empty(O, N) ->
    case tally_outbox:size(O) of
        0 -> ok;
        _ -> timer:sleep(20), wait_empty(O, N - 1)
    end.

publisher_retries_while_the_bus_is_down_test_() ->
    {timeout, 60, fun() -> tally_test_support:quiet(fun retries_while_down/0) end}.


retries_while_down() ->
    S = tally_nats_server:start(#{}),
    Port = tally_nats_server:port(S),
    S1 = tally_nats_server:stop(S),
    Dir = tmp_dir(),
    {ok, O} = tally_outbox:start_link(#{dir => Dir}),
    ok = tally_outbox:put(O, [{K, <<"inv.x">>, K} || K <- [<<"k1">>, <<"k2">>, <<"k3">>]]),
    {ok, P} = tally_publisher:start_link(#{outbox => O, sink => {tally_sink_nats,
        #{port => Port, stream => <<"INV">>, subjects => [<<"inv.>">>], create_stream => true, ping_interval => 200}}}),
    timer:sleep(1500),
    %% The bus is down: nothing left the outbox, and the publisher kept trying.
    ?assertEqual(3, tally_outbox:size(O)),
    #{failures := Failures} = tally_publisher:stats(P),
    ?assert(Failures >= 3),
    S2 = tally_nats_server:restart(S1),
    try
        ok = wait_empty(O, 1500),
        {ok, C} = tally_nats:start_link(#{port => Port}),
        timer:sleep(300),
        Read = tally_nats_server:read_stream(C, <<"INV">>, 3),
        %% A batch is published all at once: the stream's order is the arrival's.
        ?assertEqual([<<"k1">>, <<"k2">>, <<"k3">>], lists:sort([Payload || {_, Payload} <- Read]))
    after
        tally_nats_server:stop(S2)
    end.
