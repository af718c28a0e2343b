-module(tally_nats_proto_tests).
-include_lib("eunit/include/eunit.hrl").

-define(P, tally_nats_proto).

encodes_hpub_with_sizes_test() ->
    Bin = iolist_to_binary(?P:hpub(<<"inv.acme">>, <<"_INBOX.x.1">>, [{<<"Nats-Msg-Id">>, <<"k1">>}], <<"{}">>)),
    %% "NATS/1.0\r\n" (10) + "Nats-Msg-Id: k1\r\n" (17) + "\r\n" (2) = 29 header bytes.
    ?assertEqual(<<"HPUB inv.acme _INBOX.x.1 29 31\r\nNATS/1.0\r\nNats-Msg-Id: k1\r\n\r\n{}\r\n">>, Bin).

encodes_connect_with_credentials_test() ->
    Line = iolist_to_binary(?P:connect(#{auth => {user, <<"u">>, <<"p\"w">>}, name => <<"tally">>})),
    <<"CONNECT ", Json:(byte_size(Line) - 10)/binary, "\r\n">> = Line,
    {ok, Opts} = tally_json:decode(Json),
    ?assertMatch(#{<<"user">> := <<"u">>, <<"pass">> := <<"p\"w">>, <<"headers">> := true, <<"verbose">> := false}, Opts).

parses_a_stream_cut_anywhere_test() ->
    Stream = <<"INFO {\"server_id\":\"x\",\"headers\":true}\r\nPING\r\n+OK\r\n"
               "MSG a.b 7 12\r\nhello\r\nworld\r\n"
               "HMSG _INBOX.x.3 1 22 24\r\nNATS/1.0 503\r\nA: b\r\n\r\nok\r\n"
               "-ERR 'Authorization Violation'\r\n">>,
    Want = [{info, #{<<"server_id">> => <<"x">>, <<"headers">> => true}}, ping, ok,
            {msg, <<"a.b">>, <<"7">>, none, <<"hello\r\nworld">>},
            {hmsg, <<"_INBOX.x.3">>, <<"1">>, none, {503, [{<<"A">>, <<"b">>}]}, <<"ok">>},
            {err, <<"Authorization Violation">>}],
    {ok, Whole, <<>>} = ?P:parse(Stream),
    ?assertEqual(Want, Whole),
    %% Every cut point gives the same messages.
    [?assertEqual(Want, parse_in_two(Stream, Cut)) || Cut <- lists:seq(0, byte_size(Stream))].

parse_in_two(Stream, Cut) ->
    <<A:Cut/binary, B/binary>> = Stream,
    {ok, First, Rest} = ?P:parse(A),
    {ok, Second, <<>>} = ?P:parse(<<Rest/binary, B/binary>>),
    First ++ Second.

bad_streams_are_errors_test() ->
    ?assertMatch({error, <<"unknown protocol line: BOGUS", _/binary>>}, ?P:parse(<<"BOGUS x\r\n">>)),
    ?assertEqual({error, <<"bad payload size">>}, ?P:parse(<<"MSG a 1 -3\r\n">>)),
    ?assertEqual({error, <<"control line over 64 KiB">>}, ?P:parse(binary:copy(<<"x">>, 70000))).
