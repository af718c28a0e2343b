%% The Gleam NATS client (tally/app/nats), as a black box, against a fake
%% server on loopback that misbehaves on purpose:
%% bad frames never crash the client (it reconnects), credentials never go
%% in clear to a server that asks for TLS, a publish over max_payload is
%% never sent, a big message arriving in small pieces comes out whole, a
%% refused login is logged as an error with the server's words, and no
%% report prints the password.
-module(tally_nats_hostile_tests).
-include_lib("eunit/include/eunit.hrl").

-export([log/2, fake_server/3]).

-define(NATS, 'tally@app@nats').

-define(INFO, #{<<"server_id">> => <<"fake">>, <<"headers">> => true, <<"max_payload">> => 1048576}).

%%% The fake server

%% Listens on loopback; every connection gets INFO, then once the client's
%% PING (after CONNECT) arrives: Reply (PONG or an -ERR) and Frames. All it
%% reads is forwarded to the test as {fake, received, Bytes}.
fake_server(Info, Reply, Frames) ->
    flush_fake(),
    {ok, L} = gen_tcp:listen(0, [binary, {ip, {127, 0, 0, 1}}, {active, false}, {reuseaddr, true}]),
    {ok, Port} = inet:port(L),
    Test = self(),
    Pid = spawn_link(fun() -> accept_loop(L, Info, Reply, Frames, Test, 1) end),
    {Pid, Port}.

accept_loop(L, Info, Reply, Frames, Test, N) ->
    case gen_tcp:accept(L) of
        {ok, S} ->
            Test ! {fake, accepted, N},
            %% A connection reports only while its fake lives (see report/3), so
            %% none of them goes on filling a later test's mailbox.
            Owner = self(),
            Conn = spawn(fun() -> receive go -> serve(S, Info, Reply, Frames, {Owner, Test}) end end),
            ok = gen_tcp:controlling_process(S, Conn),
            Conn ! go,
            accept_loop(L, Info, Reply, Frames, Test, N + 1);
        {error, _} ->
            ok
    end.

serve(S, Info, Reply, Frames, To) ->
    ok = gen_tcp:send(S, [<<"INFO ">>, tally_json:encode(Info), <<"\r\n">>]),
    case read_until(S, <<"PING\r\n">>, <<>>, To) of
        ok ->
            _ = gen_tcp:send(S, Reply),
            _ = [begin _ = gen_tcp:send(S, F), timer:sleep(0) end || F <- Frames],
            drain(S, To);
        closed ->
            ok
    end.

read_until(S, Mark, Seen, To) ->
    case gen_tcp:recv(S, 0, 10000) of
        {ok, B} ->
            report(To, {fake, received, B}),
            All = <<Seen/binary, B/binary>>,
            case binary:match(All, Mark) of
                nomatch -> read_until(S, Mark, All, To);
                _ -> ok
            end;
        {error, _} ->
            closed
    end.

drain(S, To) ->
    case gen_tcp:recv(S, 0, 30000) of
        {ok, B} -> report(To, {fake, received, B}), drain(S, To);
        {error, _} -> gen_tcp:close(S)
    end.

report({Owner, Test}, Msg) ->
    case is_process_alive(Owner) of
        true -> Test ! Msg, ok;
        false -> ok
    end.

%% What an earlier test's fake left in this process's mailbox is not this test's.
flush_fake() ->
    receive {fake, _, _} -> flush_fake() after 0 -> ok end.

%% Everything the fake server read so far (waiting Ms for more).
received(Ms) -> received(Ms, <<>>).
received(Ms, Acc) ->
    receive {fake, received, B} -> received(Ms, <<Acc/binary, B/binary>>) after Ms -> Acc end.

wait_accepted(N, Ms) ->
    receive {fake, accepted, N} -> ok after Ms -> {error, {not_accepted, N}} end.

client(Port, Extra) ->
    tally_nats_server:client(maps:merge(#{host => "127.0.0.1", port => Port, ping_interval => 60000,
                                          auth => {user, <<"tally">>, <<"s3cret">>}}, Extra)).

%%% Tests

a_hostile_server_never_crashes_the_client_and_it_reconnects_test_() ->
    {timeout, 120, fun() -> tally_test_support:quiet(fun hostile_frames/0) end}.

hostile_frames() ->
    process_flag(trap_exit, true),
    Frames = [<<"HMSG _INBOX.x.1 1 0 0\r\n\r\n">>,
              <<"HMSG _INBOX.x.1 1 30 4\r\nNATS/1.0\r\n\r\n">>,
              <<"HMSG a 1 12 12\r\nHTTP/1.1\r\n\r\n\r\n">>,
              <<"MSG a 1 -1\r\n">>,
              <<"MSG a 1 99999999999\r\n">>,
              <<"MSG a 1 3\r\nabcdef\r\n">>,
              <<"INFO not json\r\n">>,
              <<"GARBAGE\r\n">>,
              <<255, 0, 254, "\r\n">>,
              binary:copy(<<"x">>, 70000)],
    [begin
         {Fake, Port} = fake_server(?INFO, <<"PONG\r\n">>, [F]),
         C = client(Port, #{}),
         ?assertEqual({F, ok}, {F, wait_accepted(1, 5000)}),
         %% Refused, the connection is dropped and made again.
         ?assertEqual({F, ok}, {F, wait_accepted(2, 10000)}),
         Pid = ?NATS:pid(C),
         ?assert(is_process_alive(Pid)),
         ?NATS:stop(C),
         unlink(Fake), exit(Fake, kill),
         receive {'EXIT', Pid, Why} -> ?assertEqual({F, normal}, {F, Why}) after 0 -> ok end
     end || F <- Frames],
    received(0).

credentials_never_go_in_clear_to_a_server_that_requires_tls_test_() ->
    {timeout, 30, fun() -> tally_test_support:quiet(fun tls_required_by_fake/0) end}.

tls_required_by_fake() ->
    {Fake, Port} = fake_server(?INFO#{<<"tls_required">> => true}, <<"PONG\r\n">>, []),
    C = client(Port, #{}),
    ok = wait_accepted(1, 5000),
    Got = received(1500),
    %% What came is a TLS handshake (record type 22), never CONNECT.
    ?assertMatch(<<22, _/binary>>, Got),
    ?assertEqual(nomatch, binary:match(Got, [<<"CONNECT">>, <<"s3cret">>])),
    ?assertNot(?NATS:is_connected(C)),
    ?NATS:stop(C),
    unlink(Fake), exit(Fake, kill).

configured_tls_is_refused_by_a_server_that_does_not_offer_it_test_() ->
    {timeout, 30, fun() -> tally_test_support:quiet(fun tls_not_offered/0) end}.

tls_not_offered() ->
    {Fake, Port} = fake_server(?INFO, <<"PONG\r\n">>, []),
    C = client(Port, #{tls => true}),
    ok = wait_accepted(1, 5000),
    ok = wait_accepted(2, 5000),
    ?assertEqual(nomatch, binary:match(received(200), [<<"CONNECT">>, <<"s3cret">>])),
    ?assertNot(?NATS:is_connected(C)),
    ?NATS:stop(C),
    unlink(Fake), exit(Fake, kill).

a_publish_over_max_payload_is_refused_and_never_sent_test_() ->
    {timeout, 30, fun() -> tally_test_support:quiet(fun over_max_payload/0) end}.

over_max_payload() ->
    {Fake, Port} = fake_server(?INFO#{<<"max_payload">> => 100}, <<"PONG\r\n">>, []),
    C = client(Port, #{}),
    ok = tally_nats_server:wait_connected(C, 5000),
    ?assertEqual(100, ?NATS:max_payload(C)),
    Big = binary:copy(<<"x">>, 101),
    ?assertEqual({error, {payload_too_large, 101, 100}}, ?NATS:request(C, <<"inv">>, [], Big, 200)),
    %% With its header block a 70-byte payload is over too.
    ?assertMatch({error, {payload_too_large, _, 100}},
                 ?NATS:js_publish(C, <<"inv">>, <<"key-1">>, [], binary:copy(<<"y">>, 70))),
    %% One that fits is sent (this fake never answers it).
    ?assertEqual({error, timeout}, ?NATS:request(C, <<"inv">>, [], <<"small">>, 200)),
    Got = received(200),
    ?assertEqual(nomatch, binary:match(Got, [<<"xxxxx">>, <<"yyyyy">>])),
    ?assertMatch({_, _}, binary:match(Got, <<"small">>)),
    ?NATS:stop(C),
    unlink(Fake), exit(Fake, kill).

a_big_message_in_small_pieces_arrives_whole_test_() ->
    {timeout, 60, fun() -> tally_test_support:quiet(fun big_message/0) end}.

big_message() ->
    Payload = crypto:strong_rand_bytes(3 * 1024 * 1024),
    Pieces = pieces(<<"MSG big 2 ", (integer_to_binary(byte_size(Payload)))/binary, "\r\n", Payload/binary, "\r\n",
                      "PING\r\n">>, 1400),
    {Fake, Port} = fake_server(?INFO, <<"PONG\r\n">>, []),
    C = client(Port, #{}),
    ok = tally_nats_server:wait_connected(C, 5000),
    Inbox = 'tally@otp@process':new_subject(),
    <<"2">> = ?NATS:subscribe(C, <<"big">>, Inbox),
    %% A second connection gets the message (the fake sends it after PONG).
    unlink(Fake), exit(Fake, kill),
    {Fake2, Port2} = fake_server(?INFO, <<"PONG\r\n">>, Pieces),
    C2 = client(Port2, #{}),
    <<"2">> = ?NATS:subscribe(C2, <<"big">>, Inbox),
    {ok, {delivery, <<"2">>, <<"big">>, [], Got}} = 'tally@otp@process':'receive'(Inbox, 30000),
    ?assertEqual(byte_size(Payload), byte_size(Got)),
    ?assert(Got =:= Payload),
    ?assert(?NATS:is_connected(C2)),
    ?NATS:stop(C), ?NATS:stop(C2),
    unlink(Fake2), exit(Fake2, kill).

pieces(Bin, Size) when byte_size(Bin) =< Size -> [Bin];
pieces(Bin, Size) -> <<P:Size/binary, Rest/binary>> = Bin, [P | pieces(Rest, Size)].

%%% Logs: the server's words at error level, never the password

%% A logger handler that sends every event to the test process.
log(Event, #{config := #{test := Pid}}) -> Pid ! {log, Event}.

capturing(Fun) ->
    #{level := Primary} = logger:get_primary_config(),
    {ok, #{level := Default}} = logger:get_handler_config(default),
    ok = logger:set_handler_config(default, level, none),
    ok = logger:set_primary_config(level, all),
    ok = logger:add_handler(tally_capture, ?MODULE, #{config => #{test => self()}}),
    try Fun()
    after
        _ = logger:remove_handler(tally_capture),
        ok = logger:set_primary_config(level, Primary),
        ok = logger:set_handler_config(default, level, Default)
    end.

logged(Ms) -> logged(Ms, []).
logged(Ms, Acc) ->
    receive {log, #{level := Level} = E} ->
        Text = lists:flatten(logger_formatter:format(E, #{single_line => true, depth => unlimited})),
        logged(Ms, [{Level, Text} | Acc])
    after Ms -> lists:reverse(Acc)
    end.

a_refused_login_is_logged_as_an_error_with_the_servers_words_test_() ->
    {timeout, 30, fun() -> capturing(fun refused_login/0) end}.

refused_login() ->
    {Fake, Port} = fake_server(?INFO, <<"-ERR 'Authorization Violation'\r\n">>, []),
    C = client(Port, #{}),
    ok = wait_accepted(1, 5000),
    Logs = logged(1000),
    ?assertMatch([_ | _], [T || {error, T} <- Logs, string:find(T, "Authorization Violation") =/= nomatch]),
    ?assertEqual([], [T || {_, T} <- Logs, string:find(T, "s3cret") =/= nomatch]),
    ?NATS:stop(C),
    unlink(Fake), exit(Fake, kill).

no_report_prints_the_password_test_() ->
    {timeout, 30, fun() -> capturing(fun no_secret_in_reports/0) end}.

no_secret_in_reports() ->
    process_flag(trap_exit, true),
    {Fake, Port} = fake_server(?INFO, <<"PONG\r\n">>, []),
    C = client(Port, #{}),
    ok = tally_nats_server:wait_connected(C, 5000),
    Pid = ?NATS:pid(C),
    State = sys:get_state(Pid),
    Printed = lists:flatten(io_lib:format("~p", [State])),
    ?assertEqual(nomatch, string:find(Printed, "s3cret")),
    ?assertNotEqual(nomatch, string:find(Printed, "tally")),
    %% A message no Gleam code can send (the payload is not bytes) crashes
    %% the client on purpose: its crash report prints what it was doing.
    %% (The state's second field is the client's own subject.)
    Bad = tally_test_support:ill_typed({request, <<"s">>, [], {not_iodata}, 100, 'tally@otp@process':new_subject()}),
    'tally@otp@process':send(element(3, State), Bad),
    receive {'EXIT', Pid, _} -> ok after 5000 -> error(no_crash) end,
    Logs = logged(500),
    ?assertMatch([_ | _], [T || {error, T} <- Logs, string:find(T, "not_iodata") =/= nomatch]),
    ?assertEqual([], [T || {_, T} <- Logs, string:find(T, "s3cret") =/= nomatch]),
    unlink(Fake), exit(Fake, kill).
