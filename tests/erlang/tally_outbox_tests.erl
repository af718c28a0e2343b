%% The outbox (tally/app/outbox), the file sink and the publisher between
%% them: removal only on acknowledgement, dedup by key at the sink, batches,
%% retries with backoff while the bus is down, parking what the bus refuses.
-module(tally_outbox_tests).
-include_lib("eunit/include/eunit.hrl").

tmp_dir() -> string:trim(os:cmd("mktemp -d -t tally-outbox-XXXXXX")).

items(Keys) -> [{K, <<"tally.invoices">>, <<"{\"key\":\"", K/binary, "\"}">>} || K <- Keys].

%% The outbox alone (batches, acknowledgements, recovery, the memory of
%% acknowledged keys) is tested in Gleam: tests/tally/app/outbox_*_test.gleam.

start_outbox(Dir) ->
    {ok, {started, _Pid, O}} = 'tally@app@outbox':start(list_to_binary(Dir)),
    O.

outbox_put(O, Items) -> {ok, nil} = 'tally@app@outbox':put(O, [{item, K, S, P} || {K, S, P} <- Items]), ok.

outbox_size(O) -> 'tally@app@outbox':size(O).

acked(O, Key) -> {ok, Acked} = 'tally@app@outbox':acked(O, Key), Acked.

%% The file sink keeps each key and version once: a reissue's lines are
%% new to the file, a line written before is not written again.
the_file_sink_keeps_each_key_and_version_once_test() ->
    Dir = tmp_dir(),
    Path = filename:join(Dir, "invoices.jsonl"),
    Line = fun(V) -> <<"{\"key\":\"a/*/m/total/2026-10\",\"version\":", (integer_to_binary(V))/binary, "}">> end,
    Item = fun(V) -> {'tally@app@written':msg_id(<<"a/*/m/total/2026-10">>, V), <<"s">>, Line(V)} end,
    {ok, S} = tally_sink_file:init(#{path => Path}),
    {ok, _, _} = tally_sink_file:publish([Item(1)], S),
    %% A new sink reads the file back: version 1 is there, version 2 is new.
    {ok, S2} = tally_sink_file:init(#{path => Path}),
    {ok, _, _} = tally_sink_file:publish([Item(1), Item(2)], S2),
    ?assertEqual(<<(Line(1))/binary, "\n", (Line(2))/binary, "\n">>, element(2, file:read_file(Path))).

publisher_drains_into_the_file_sink_once_per_key_test() ->
    Dir = tmp_dir(),
    Sink = filename:join(Dir, "invoices.jsonl"),
    O = start_outbox(filename:join(Dir, "outbox")),
    %% A previous run wrote "a" to the file but crashed before acking it.
    ok = file:write_file(Sink, <<"{\"key\":\"a\"}\n">>),
    ok = outbox_put(O, items([<<"a">>, <<"b">>])),
    {ok, P} = tally_publisher:start_link(#{outbox => O, sink => {tally_sink_file, #{path => Sink}}, batch => 1}),
    ok = outbox_put(O, items([<<"c">>])),
    ok = wait_empty(O, 100),
    {ok, Bin} = file:read_file(Sink),
    ?assertEqual(<<"{\"key\":\"a\"}\n{\"key\":\"b\"}\n{\"key\":\"c\"}\n">>, Bin),
    ?assertMatch(#{published := 3, failures := 0}, tally_publisher:stats(P)).

%% Many lines in one put: batches through the publisher and the file sink.
publisher_moves_many_lines_in_batches_test_() ->
    {timeout, 120, fun() ->
        Dir = tmp_dir(),
        Sink = filename:join(Dir, "invoices.jsonl"),
        O = start_outbox(filename:join(Dir, "outbox")),
        Keys = [<<"k", (integer_to_binary(I))/binary, "/2026-10/v1">> || I <- lists:seq(1, 20000)],
        ok = outbox_put(O, items(Keys)),
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
    case outbox_size(O) of
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
    O = start_outbox(Dir),
    ok = outbox_put(O, [{K, <<"inv.x">>, K} || K <- [<<"k1">>, <<"k2">>, <<"k3">>]]),
    {ok, P} = tally_publisher:start_link(#{outbox => O, sink => {tally_sink_nats,
        #{port => Port, stream => <<"INV">>, subjects => [<<"inv.>">>], create_stream => true, ping_interval => 200}}}),
    timer:sleep(1500),
    %% The bus is down: nothing left the outbox, and the publisher kept trying.
    ?assertEqual(3, outbox_size(O)),
    #{failures := Failures} = tally_publisher:stats(P),
    ?assert(Failures >= 3),
    S2 = tally_nats_server:restart(S1),
    try
        ok = wait_empty(O, 1500),
        C = tally_nats_server:client(#{port => Port}),
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
        O = start_outbox(Dir),
        ok = outbox_put(O, [{<<"k1/2026-10/v1">>, <<"inv.x">>, <<"one">>},
                                  {<<"big/2026-10/v1">>, <<"inv.x">>, Big},
                                  {<<"k3/2026-10/v1">>, <<"inv.x">>, <<"three">>}]),
        {ok, _P} = tally_publisher:start_link(#{outbox => O, sink => {tally_sink_nats,
            #{port => Port, stream => <<"INV">>, subjects => [<<"inv.>">>], create_stream => true,
              ping_interval => 200}}}),
        ok = wait_empty(O, 1500),
        C = tally_nats_server:client(#{port => Port}),
        timer:sleep(300),
        Read = tally_nats_server:read_stream(C, <<"INV">>, 2),
        ?assertEqual([<<"one">>, <<"three">>], lists:sort([Payload || {_, Payload} <- Read])),
        {ok, Parked} = file:read_file(filename:join(Dir, "parked.jsonl")),
        [Line] = binary:split(Parked, <<"\n">>, [global, trim_all]),
        {ok, #{<<"key">> := <<"big/2026-10/v1">>, <<"reason">> := <<"payload_too_large">>, <<"payload">> := Big}} =
            tally_json:decode(Line),
        ?assertNot(acked(O, <<"big/2026-10/v1">>)),
        ?assert(acked(O, <<"k1/2026-10/v1">>)),
        %% Not acknowledged: a later put (a close again) takes it back in.
        ok = outbox_put(O, [{<<"big/2026-10/v1">>, <<"inv.x">>, Big},
                                  {<<"k1/2026-10/v1">>, <<"inv.x">>, <<"one">>}]),
        ok = wait_empty(O, 1500),
        {ok, Parked2} = file:read_file(filename:join(Dir, "parked.jsonl")),
        ?assertEqual(2, length(binary:split(Parked2, <<"\n">>, [global, trim_all])))
    after
        tally_nats_server:stop(S)
    end.

%% The job's watcher: a status whatever ends the job. The jobs that crash
%% do so on purpose, which Dialyzer would report as funs that never return.
-dialyzer({nowarn_function, the_job_always_ends_with_a_status_test/0}).
the_job_always_ends_with_a_status_test() ->
    ?assertEqual(0, tally_job:watched(fun() -> 0 end)),
    %% (rand:uniform(1) is always 1: the funs may return, as far as Dialyzer knows.)
    ?assertEqual(1, tally_job:watched(fun() -> case rand:uniform(1) of 1 -> exit(a_collector_restarted); _ -> 0 end end)),
    ?assertEqual(1, tally_job:watched(fun() -> case rand:uniform(1) of 1 -> error(badarg); _ -> 0 end end)),
    %% Killed from outside while it runs.
    Self = self(),
    Killer = spawn(fun() -> receive {job, Pid} -> exit(Pid, kill) end end),
    ?assertEqual(1, tally_job:watched(fun() -> Killer ! {job, self()}, timer:sleep(infinity), 0 end)),
    ?assert(is_process_alive(Self)).
