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

