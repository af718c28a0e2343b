%% The outbox, the file sink and the publisher between them: durable
%% batches, removal only on acknowledgement, dedup by key, the memory of
%% acknowledged keys, and retries with backoff while the bus is down.
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
    ?assertEqual(items([<<"a">>, <<"b">>]), tally_outbox:peek(O, 10)),
    ok = tally_outbox:ack(O, [<<"b">>]),
    ?assertEqual(2, tally_outbox:size(O)),
    unlink(O), exit(O, kill),
    %% A put cut off before its rename leaves a .tmp file behind: not an item.
    ok = file:write_file(filename:join(Dir, "00000000000000ff-3.batch.tmp"), <<"half">>),
    {ok, O2} = tally_outbox:start_link(#{dir => Dir}),
    ?assertEqual(2, tally_outbox:size(O2)),
    ?assertEqual(items([<<"a">>]), tally_outbox:peek(O2, 10)),
    ok = tally_outbox:put(O2, items([<<"d">>, <<"b">>])),  % b was acknowledged: not again
    ?assertEqual(3, tally_outbox:size(O2)),
    ok = tally_outbox:ack(O2, [<<"a">>]),
    ?assertEqual(items([<<"c">>]), tally_outbox:peek(O2, 10)),
    ok = tally_outbox:ack(O2, [<<"c">>]),
    ?assertEqual(items([<<"d">>]), tally_outbox:peek(O2, 10)),
    ?assertEqual([], filelib:wildcard("*.tmp", Dir)).

%% Items are stored in batches (a file each) and a file goes once all its
%% items are acknowledged; acknowledged keys are remembered per period and
%% version, on disk, past a restart.
batches_and_the_memory_of_acknowledged_keys_test() ->
    Dir = tmp_dir(),
    {ok, O} = tally_outbox:start_link(#{dir => Dir}),
    Keys = [<<"c", (integer_to_binary(I))/binary, "/*/m/total/2026-10/v1">> || I <- lists:seq(1, 12000)],
    ok = tally_outbox:put(O, items(Keys)),
    ?assertEqual(12000, tally_outbox:size(O)),
    ?assertEqual(3, length(filelib:wildcard("*.batch", Dir))),  % 5000 + 5000 + 2000
    First = tally_outbox:peek(O, 100000),
    ?assertEqual(5000, length(First)),
    ok = tally_outbox:ack(O, [K || {K, _, _} <- lists:sublist(First, 4999)]),
    ?assertEqual(3, length(filelib:wildcard("*.batch", Dir))),
    ok = tally_outbox:ack(O, [element(1, lists:last(First))]),
    ?assertEqual(2, length(filelib:wildcard("*.batch", Dir))),
    ?assertEqual(7000, tally_outbox:size(O)),
    ?assertEqual(lists:nth(5001, Keys), element(1, hd(tally_outbox:peek(O, 1)))),
    %% Acknowledged keys live in one file per period and version, 16 bytes each.
    ?assertEqual({ok, 5000 * 16}, file_size(filename:join([Dir, "acked", "2026-10-v1.acked"]))),
    unlink(O), exit(O, kill),
    {ok, O2} = tally_outbox:start_link(#{dir => Dir}),
    ?assertEqual(7000, tally_outbox:size(O2)),
    %% The same period closed again: nothing new.
    ok = tally_outbox:put(O2, items(Keys)),
    ?assertEqual(7000, tally_outbox:size(O2)),
    ?assert(tally_outbox:acked(O2, hd(Keys))),
    ?assertNot(tally_outbox:acked(O2, lists:last(Keys))),
    %% Another version of the period is a different set of lines.
    ok = tally_outbox:put(O2, items([<<"c1/*/m/total/2026-10/v2">>])),
    ?assertEqual(7001, tally_outbox:size(O2)).

%% A crash after the acknowledgement was remembered but before the batch
%% was removed: the acknowledged items are not sent again.
a_batch_acknowledged_in_part_before_a_crash_test() ->
    Dir = tmp_dir(),
    {ok, O} = tally_outbox:start_link(#{dir => Dir}),
    ok = tally_outbox:put(O, items([<<"a/2026-10/v1">>, <<"b/2026-10/v1">>, <<"c/2026-10/v1">>])),
    ok = tally_outbox:ack(O, [<<"a/2026-10/v1">>, <<"c/2026-10/v1">>]),
    unlink(O), exit(O, kill),
    {ok, O2} = tally_outbox:start_link(#{dir => Dir}),
    ?assertEqual(1, tally_outbox:size(O2)),
    ?assertEqual(items([<<"b/2026-10/v1">>]), tally_outbox:peek(O2, 10)).

file_size(Path) ->
    case file:read_file_info(Path) of
        {ok, Info} -> {ok, element(2, Info)};
        Error -> Error
    end.

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

%% Many lines in one put: batches through the publisher and the file sink.
publisher_moves_many_lines_in_batches_test_() ->
    {timeout, 120, fun() ->
        Dir = tmp_dir(),
        Sink = filename:join(Dir, "invoices.jsonl"),
        {ok, O} = tally_outbox:start_link(#{dir => filename:join(Dir, "outbox")}),
        Keys = [<<"k", (integer_to_binary(I))/binary, "/2026-10/v1">> || I <- lists:seq(1, 20000)],
        ok = tally_outbox:put(O, items(Keys)),
        {ok, P} = tally_publisher:start_link(#{outbox => O, sink => {tally_sink_file, #{path => Sink}}}),
        ok = wait_empty(O, 3000),
        {ok, Bin} = file:read_file(Sink),
        Lines = binary:split(Bin, <<"\n">>, [global, trim_all]),
        ?assertEqual([Payload || {_, _, Payload} <- items(Keys)], Lines),
        ?assertMatch(#{published := 20000}, tally_publisher:stats(P)),
        ?assertEqual([], filelib:wildcard("*.batch", filename:join(Dir, "outbox")))
    end}.

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

a_line_over_the_bus_max_payload_is_parked_not_retried_forever_test_() ->
    {timeout, 60, fun() -> tally_test_support:quiet(fun over_max_payload/0) end}.

%% The server refuses messages over 512 bytes: the big item is parked
%% (parked.jsonl, with its key and reason; not remembered as acknowledged,
%% so a later put sends it again), the items around it are published.
over_max_payload() ->
    S = tally_nats_server:start(#{max_payload => 512}),
    Port = tally_nats_server:port(S),
    Dir = tmp_dir(),
    Big = binary:copy(<<"x">>, 2000),
    try
        {ok, O} = tally_outbox:start_link(#{dir => Dir}),
        ok = tally_outbox:put(O, [{<<"k1/2026-10/v1">>, <<"inv.x">>, <<"one">>},
                                  {<<"big/2026-10/v1">>, <<"inv.x">>, Big},
                                  {<<"k3/2026-10/v1">>, <<"inv.x">>, <<"three">>}]),
        {ok, _P} = tally_publisher:start_link(#{outbox => O, sink => {tally_sink_nats,
            #{port => Port, stream => <<"INV">>, subjects => [<<"inv.>">>], create_stream => true,
              ping_interval => 200}}}),
        ok = wait_empty(O, 1500),
        {ok, C} = tally_nats:start_link(#{port => Port}),
        timer:sleep(300),
        Read = tally_nats_server:read_stream(C, <<"INV">>, 2),
        ?assertEqual([<<"one">>, <<"three">>], lists:sort([Payload || {_, Payload} <- Read])),
        {ok, Parked} = file:read_file(filename:join(Dir, "parked.jsonl")),
        [Line] = binary:split(Parked, <<"\n">>, [global, trim_all]),
        {ok, #{<<"key">> := <<"big/2026-10/v1">>, <<"reason">> := <<"payload_too_large">>, <<"payload">> := Big}} =
            tally_json:decode(Line),
        ?assertNot(tally_outbox:acked(O, <<"big/2026-10/v1">>)),
        ?assert(tally_outbox:acked(O, <<"k1/2026-10/v1">>)),
        %% Not acknowledged: a later put (a close again) takes it back in.
        ok = tally_outbox:put(O, [{<<"big/2026-10/v1">>, <<"inv.x">>, Big},
                                  {<<"k1/2026-10/v1">>, <<"inv.x">>, <<"one">>}]),
        ok = wait_empty(O, 1500),
        {ok, Parked2} = file:read_file(filename:join(Dir, "parked.jsonl")),
        ?assertEqual(2, length(binary:split(Parked2, <<"\n">>, [global, trim_all])))
    after
        tally_nats_server:stop(S)
    end.

