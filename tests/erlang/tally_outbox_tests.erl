%% The outbox: durable batches, removal only on acknowledgement, dedup by
%% key, the memory of acknowledged keys.
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

%% A batch the engine wrote is stored as it is (one file) when none of its
%% keys can be waiting or acknowledged; read back it is its items. Put
%% again while it waits, or after its keys were acknowledged, it is taken
%% apart and nothing is stored twice.
-define(SINK, 'tally@app@sink_file').

%% A written batch taken apart into the Gleam sink's items, when it asks.
apart(W) -> fun() -> [{item, K, S, P} || {K, S, P} <- tally_outbox:items(W)] end.

wait_empty(_O, 0) -> {error, not_drained};
wait_empty(O, N) ->
    case tally_outbox:size(O) of
        0 -> ok;
        _ -> timer:sleep(20), wait_empty(O, N - 1)
    end.

written(Keys) ->
    Items = items(Keys),
    {written, <<"tally.invoices">>,
     {written_batch, length(Keys), << <<K/binary, "\n">> || {K, _, _} <- Items >>,
      << <<P/binary, "\n">> || {_, _, P} <- Items >>}}.

written_batches_are_stored_as_they_are_test() ->
    Dir = tmp_dir(),
    {ok, O} = tally_outbox:start_link(#{dir => Dir}),
    Keys = [<<"c", (integer_to_binary(I))/binary, "/*/m/total/2026-10/v1">> || I <- lists:seq(1, 30)],
    {K1, K2} = lists:split(20, Keys),
    ok = tally_outbox:put(O, [written(K1), written(K2)]),
    ?assertEqual(30, tally_outbox:size(O)),
    [F1, F2] = lists:sort(filelib:wildcard("*.batch", Dir)),
    ?assertMatch({ok, _}, file:read_file(filename:join(Dir, F1))),
    {ok, Bin} = file:read_file(filename:join(Dir, F1)),
    ?assertEqual(written(K1), binary_to_term(Bin)),  % the engine's batch, not items
    ?assertEqual("-10.batch", lists:nthtail(length(F2) - 9, F2)),
    ?assertEqual(items(K1), tally_outbox:peek(O, 100)),
    %% Again while they wait: nothing new.
    ok = tally_outbox:put(O, [written(Keys)]),
    ?assertEqual(30, tally_outbox:size(O)),
    ok = tally_outbox:ack(O, K1),
    ?assertEqual(items(K2), tally_outbox:peek(O, 100)),
    ok = tally_outbox:ack(O, K2),
    ?assertEqual(0, tally_outbox:size(O)),
    %% After they were acknowledged: only the new key is stored.
    New = <<"new/*/m/total/2026-10/v1">>,
    ok = tally_outbox:put(O, [written(Keys ++ [New])]),
    ?assertEqual(items([New]), tally_outbox:peek(O, 100)),
    unlink(O), exit(O, kill),
    {ok, O2} = tally_outbox:start_link(#{dir => Dir}),
    ?assertEqual(items([New]), tally_outbox:peek(O2, 100)),
    %% A written batch that is not one is refused.
    ?assertEqual({error, bad_item}, tally_outbox:put(O2, [{written, <<"s">>, {written_batch, 0, <<>>, <<>>}}])).

%% The publisher's path for a written batch: peek_batch gives it whole,
%% the file sink appends its lines as they are (once, even when sent
%% again), ack_batch removes it and remembers its keys.
written_batches_are_published_whole_test() ->
    Dir = tmp_dir(),
    {ok, O} = tally_outbox:start_link(#{dir => filename:join(Dir, "outbox")}),
    Keys = [<<"c", (integer_to_binary(I))/binary, "/*/m/total/2026-10/v1">> || I <- lists:seq(1, 5)],
    {K1, K2} = lists:split(3, Keys),
    ok = tally_outbox:put(O, [written(K1), written(K2)]),
    {written, _, {written_batch, 3, Ids, Lines}} = W = tally_outbox:peek_batch(O, 100),
    ?assertEqual(written(K1), W),
    Path = filename:join(Dir, "invoices.jsonl"),
    %% The file sink is the Gleam tally/app/sink_file.
    {ok, S0} = ?SINK:open(list_to_binary(Path)),
    {S1, {ok, nil}} = ?SINK:publish_written(S0, W, apart(W)),
    {S2, {ok, nil}} = ?SINK:publish_written(S1, W, apart(W)),  % its acknowledgement was lost: not twice
    ?assertEqual({ok, Lines}, file:read_file(Path)),
    ok = tally_outbox:ack_batch(O, Ids),
    ?assertEqual(2, tally_outbox:size(O)),
    ?assert(tally_outbox:acked(O, hd(K1))),
    ?assertEqual(written(K2), tally_outbox:peek_batch(O, 100)),
    %% Items after written batches: a key already written is not written again.
    {S3, {published, Acked}} = ?SINK:publish(S2, [{item, K, S, P} || {K, S, P} <- items([hd(K1), <<"x">>])]),
    ?assertEqual([hd(K1), <<"x">>], Acked),
    {ok, All} = file:read_file(Path),
    ?assertEqual(<<Lines/binary, "{\"key\":\"x\"}\n">>, All),
    %% Now a written batch goes item by item: its known keys are skipped.
    W2 = written([lists:last(K1), <<"y">>]),
    {_, {ok, nil}} = ?SINK:publish_written(S3, W2, apart(W2)),
    {ok, All2} = file:read_file(Path),
    ?assertEqual(<<All/binary, "{\"key\":\"y\"}\n">>, All2),
    %% A restarted sink knows every key in the file.
    {ok, S4} = ?SINK:open(list_to_binary(Path)),
    {S5, {ok, nil}} = ?SINK:publish_written(S4, W, apart(W)),
    ?assertEqual({ok, All2}, file:read_file(Path)),
    _ = S5,
    %% The publisher drains the rest through the same path.
    %% (tally/app/publisher.Config(outbox, FileSink(path), batch, registered))
    {ok, _P} = 'tally@app@publisher':start({config, O, {file_sink, list_to_binary(Path)}, 5000, false}),
    ok = wait_empty(O, 100),
    {ok, Final} = file:read_file(Path),
    ?assertEqual(All2, binary:part(Final, 0, byte_size(All2))),
    ?assertEqual(<< <<P/binary, "\n">> || {_, _, P} <- items(K2) >>,
                 binary:part(Final, byte_size(All2), byte_size(Final) - byte_size(All2))).

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

%% The publisher's own tests (file sink, batches, retries while the bus is
%% down, parking over max_payload) are tests/tally/app/publisher_test.gleam.

