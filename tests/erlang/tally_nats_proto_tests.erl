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

%% Frames a hostile or broken server may send: each is a clear error.
bad_frames_are_refused_with_a_reason_test() ->
    Cases = [{<<"HMSG _INBOX.x.1 1 0 0\r\n\r\n">>, <<"HMSG with a bad header size">>},
             {<<"HMSG _INBOX.x.1 1 10 4\r\nNATS/1.0\r\n\r\n">>, <<"HMSG with a bad header size">>},
             {<<"HMSG a 1 12 12\r\nHTTP/1.1\r\n\r\n\r\n">>, <<"HMSG header block does not start with NATS/1.0">>},
             {<<"HMSG a 1 12 12\r\nNATS/1.0xxxx\r\n">>, <<"HMSG header block not ended by an empty line">>},
             {<<"MSG a 1 5\r\nhello!!\r\n">>, <<"payload not followed by CRLF">>},
             {<<"MSG a\r\n">>, <<"wrong number of fields">>},
             {<<"INFO [1,2]\r\n">>, <<"INFO that is not a JSON object">>},
             {<<"MSG a 1 999999999999\r\n">>, <<"message of 999999999999 bytes, over the limit">>},
             {<<"BOGUS x\r\n">>, <<"unknown protocol line: BOGUS">>},
             {<<255, 254, 0, 13, 10>>, <<"malformed protocol line">>}],
    [?assertEqual({Frame, Reason}, {Frame, error_prefix(?P:parse(Frame), byte_size(Reason))}) || {Frame, Reason} <- Cases].

error_prefix({error, Text}, N) -> binary:part(Text, 0, min(N, byte_size(Text)));
error_prefix(Other, _) -> Other.

%% Whatever the bytes, parse/1 returns; it never raises.
random_bytes_never_crash_the_parser_test() ->
    _ = rand:seed(exsss, {1, 2, 3}),
    Words = [<<"MSG ">>, <<"HMSG ">>, <<"INFO ">>, <<"PING">>, <<"-ERR ">>, <<"\r\n">>, <<" ">>, <<"12">>,
             <<"0">>, <<"NATS/1.0">>, <<"{">>, <<"x">>, <<255>>],
    [begin
         Bin = iolist_to_binary([lists:nth(rand:uniform(length(Words)), Words) || _ <- lists:seq(1, rand:uniform(30))]),
         ?assert(lists:member(element(1, ?P:parse(Bin)), [ok, error]))
     end || _ <- lists:seq(1, 3000)].

frame_size_is_known_from_the_control_line_test() ->
    ?assertEqual(byte_size(<<"MSG a.b 7 5\r\nhello\r\n">>), ?P:frame_size(<<"MSG a.b 7 5\r\nhel">>)),
    ?assertEqual(byte_size(<<"HMSG a 1 r 12 14\r\nNATS/1.0\r\n\r\nok\r\n">>), ?P:frame_size(<<"HMSG a 1 r 12 14\r\n">>)),
    ?assertEqual(0, ?P:frame_size(<<"MSG a.b 7">>)),
    ?assertEqual(0, ?P:frame_size(<<"PING\r\n">>)).

publish_size_counts_headers_and_payload_test() ->
    Frame = iolist_to_binary(?P:hpub(<<"s">>, none, [{<<"Nats-Msg-Id">>, <<"k1">>}], <<"{}">>)),
    %% HPUB s 29 31: the total is what the server weighs against max_payload.
    ?assertEqual(31, ?P:publish_size([{<<"Nats-Msg-Id">>, <<"k1">>}], <<"{}">>)),
    ?assertMatch({_, _}, binary:match(Frame, <<" 29 31\r\n">>)),
    ?assertEqual(5, ?P:publish_size([], [<<"he">>, <<"llo">>])).

connect_reveals_a_wrapped_password_only_in_the_frame_test() ->
    Secret = tally_secret:wrap(<<"s3cret">>),
    ?assertEqual(nomatch, string:find(io_lib:format("~p", [{user, <<"u">>, Secret}]), "s3cret")),
    Line = iolist_to_binary(?P:connect(#{auth => {user, <<"u">>, Secret}, name => <<"t">>, tls => true})),
    ?assertMatch({_, _}, binary:match(Line, <<"\"pass\":\"s3cret\"">>)),
    ?assertMatch({_, _}, binary:match(Line, <<"\"tls_required\":true">>)).
