%% @doc A reissue's voids (tally_reissue): the keys an earlier version of a
%% period had and the new one has not, each published once as a void of the
%% new version, the same again when the period is closed again; and the file
%% sink keeps a reissue's lines beside the earlier version's.
-module(tally_reissue_tests).
-include_lib("eunit/include/eunit.hrl").

tmp_dir(Name) -> string:trim(os:cmd("mktemp -d -t tally-" ++ Name ++ "-XXXXXX")).

%% Message ids as the engine writes them: each line ends in a newline.
item(Key, Version) -> <<(tally_invoice:msg_id(Key, Version))/binary, "\n">>.

voids_name_the_gone_keys_once_test() ->
    Dir = tmp_dir("reissue"),
    P = <<"2026-10">>,
    K1 = <<"a%2Fb/*/requests/total/2026-10">>,
    K2 = <<"a/b%2Fc/requests/total/2026-10">>,
    K3 = <<"tab%09x/%2A/bandwidth_out_bytes/peak/2026-10">>,
    %% Version 1: nothing issued before, nothing void; the keys are recorded.
    {ok, [], Record1} = tally_reissue:voids(Dir, P, 1, <<"s">>, [<<(item(K1, 1))/binary, (item(K2, 1))/binary>>,
                                                                   item(K3, 1)]),
    ok = Record1(),
    %% Recorded as the ids were given.
    ?assertEqual({ok, <<(item(K1, 1))/binary, (item(K2, 1))/binary, (item(K3, 1))/binary>>},
                 file:read_file(filename:join([Dir, "issued", "2026-10"]))),
    %% Version 2 has K2 only: K1 and K3 are void, in key order, as version 2.
    {ok, Voids, Record2} = tally_reissue:voids(Dir, P, 2, <<"s">>, [item(K2, 2)]),
    ?assertEqual([{<<K1/binary, "/v2">>, <<"s">>,
                   <<"{\"customer\":\"a/b\",\"key\":\"a%2Fb/*/requests/total/2026-10\",\"measure\":\"total\","
                     "\"meter\":\"requests\",\"period\":\"2026-10\",\"resource\":\"*\",\"version\":2,\"void\":true}">>},
                  {<<K3/binary, "/v2">>, <<"s">>,
                   <<"{\"customer\":\"tab\\tx\",\"key\":\"tab%09x/%2A/bandwidth_out_bytes/peak/2026-10\","
                     "\"measure\":\"peak\",\"meter\":\"bandwidth_out_bytes\",\"period\":\"2026-10\","
                     "\"resource\":\"*\",\"version\":2,\"void\":true}">>}],
                 Voids),
    ok = Record2(),
    %% Closed again (a crash, a rerun): the same voids; another period: none.
    ?assertMatch({ok, Voids, _}, tally_reissue:voids(Dir, P, 2, <<"s">>, [item(K2, 2)])),
    ?assertMatch({ok, [], _}, tally_reissue:voids(Dir, <<"2026-11">>, 2, <<"s">>, [])),
    %% Version 3 brings K1 back: only K3 stays void.
    {ok, [{Id3, _, _}], _} = tally_reissue:voids(Dir, P, 3, <<"s">>, [item(K1, 3), item(K2, 3)]),
    ?assertEqual(<<K3/binary, "/v3">>, Id3).

%% A period recorded in the earlier form (a term of its keys) still gives
%% its voids, and is recorded again in the new form.
the_earlier_record_is_read_test() ->
    Dir = tmp_dir("reissue_old"),
    K1 = <<"a/*/m/total/2026-10">>,
    K2 = <<"b/*/m/total/2026-10">>,
    Path = filename:join([Dir, "issued", "2026-10"]),
    ok = tally_files:write_durably(Path, term_to_binary(#{K1 => true, K2 => true})),
    {ok, [{Void, _, _}], Record} = tally_reissue:voids(Dir, <<"2026-10">>, 2, <<"s">>, [item(K2, 2)]),
    ?assertEqual(<<K1/binary, "/v2">>, Void),
    ok = Record(),  % nothing new: the old record stays
    {ok, [], Record2} = tally_reissue:voids(Dir, <<"2026-10">>, 3, <<"s">>, [item(K1, 3), item(K2, 3),
                                                                            item(<<"c/*/m/total/2026-10">>, 3)]),
    ok = Record2(),
    {ok, Text} = file:read_file(Path),
    ?assertEqual([<<K1/binary, "/v0">>, <<K2/binary, "/v0">>, <<"c/*/m/total/2026-10/v3">>],
                 binary:split(Text, <<"\n">>, [global, trim_all])).

key_parts_decode_each_part_test() ->
    ?assertEqual([<<"a/b">>, <<"*">>, <<"50% off">>, <<"total">>, <<"2026-10">>],
                 tally_reissue:key_parts(<<"a%2Fb/%2A/50%25%20off/total/2026-10">>)).

%% The file sink keeping each key and version once: tests/tally/app/sink_test.gleam.

