%% tally_nats against a real nats-server with JetStream on loopback.
-module(tally_nats_tests).
-include_lib("eunit/include/eunit.hrl").


connect(Server, Auth) ->
    {ok, C} = tally_nats:start_link(#{host => "127.0.0.1", port => tally_nats_server:port(Server),
                                      auth => Auth, ping_interval => 200}),
    ok = tally_nats_server:wait_connected(C, 5000),
    C.

publish_is_acknowledged_and_deduplicated_by_msg_id_test_() ->
    {timeout, 30, fun() -> tally_test_support:quiet(fun publish_dedup/0) end}.

publish_dedup() ->
    S = tally_nats_server:start(#{user => {"tally", "s3cret"}}),
    try
        C = connect(S, {user, <<"tally">>, <<"s3cret">>}),
        ok = tally_nats:create_stream(C, <<"INVOICES">>, #{subjects => [<<"invoices.>">>]}),
        ok = tally_nats:create_stream(C, <<"INVOICES">>, #{subjects => [<<"invoices.>">>]}),
        {ok, #{seq := 1, duplicate := false}} = tally_nats:js_publish(C, <<"invoices.acme">>, <<"k1">>, <<"{\"a\":1}">>),
        {ok, #{seq := 1, duplicate := true}} = tally_nats:js_publish(C, <<"invoices.acme">>, <<"k1">>, <<"{\"a\":1}">>),
        {ok, #{seq := 2, duplicate := false}} = tally_nats:js_publish(C, <<"invoices.acme">>, <<"k2">>, <<"{\"a\":2}">>),
        ?assertEqual({error, no_stream_for_subject}, tally_nats:js_publish(C, <<"elsewhere">>, <<"k3">>, <<"x">>)),
        Read = tally_nats_server:read_stream(C, <<"INVOICES">>, 2),
        ?assertEqual([<<"{\"a\":1}">>, <<"{\"a\":2}">>], [P || {_, P} <- Read]),
        ?assertEqual([<<"k1">>, <<"k2">>], [proplists:get_value(<<"Nats-Msg-Id">>, H) || {H, _} <- Read])
    after
        tally_nats_server:stop(S)
    end.

wrong_password_never_connects_and_right_token_does_test_() ->
    {timeout, 30, fun() -> tally_test_support:quiet(fun auth/0) end}.

auth() ->
    S = tally_nats_server:start(#{user => {"tally", "s3cret"}}),
    try
        {ok, Bad} = tally_nats:start_link(#{port => tally_nats_server:port(S), auth => {user, <<"tally">>, <<"nope">>}}),
        ?assertEqual({error, not_connected}, tally_nats_server:wait_connected(Bad, 1000)),
        ?assertEqual({error, not_connected}, tally_nats:js_publish(Bad, <<"x">>, <<"k">>, <<>>)),
        tally_nats:stop(Bad)
    after
        tally_nats_server:stop(S)
    end,
    T = tally_nats_server:start(#{token => "t0ken"}),
    try
        C = connect(T, {token, <<"t0ken">>}),
        ?assert(tally_nats:is_connected(C))
    after
        tally_nats_server:stop(T)
    end.

reconnects_after_the_server_comes_back_test_() ->
    {timeout, 60, fun() -> tally_test_support:quiet(fun reconnects/0) end}.

reconnects() ->
    S = tally_nats_server:start(#{}),
    C = connect(S, none),
    ok = tally_nats:create_stream(C, <<"R">>, #{subjects => [<<"r.>">>]}),
    {ok, #{seq := 1}} = tally_nats:js_publish(C, <<"r.a">>, <<"k1">>, <<"1">>),
    S1 = tally_nats_server:stop(S),
    ?assertEqual({error, not_connected}, wait_until_down(C, 100)),
    S2 = tally_nats_server:restart(S1),
    try
        ok = tally_nats_server:wait_connected(C, 10000),
        %% Same store: the stream and its duplicate window are still there.
        {ok, #{seq := 1, duplicate := true}} = tally_nats:js_publish(C, <<"r.a">>, <<"k1">>, <<"1">>),
        {ok, #{seq := 2}} = tally_nats:js_publish(C, <<"r.a">>, <<"k2">>, <<"2">>)
    after
        tally_nats_server:stop(S2)
    end.

wait_until_down(_C, 0) -> still_connected;
wait_until_down(C, N) ->
    case tally_nats:js_publish(C, <<"r.a">>, <<"down">>, <<>>) of
        {error, not_connected} -> {error, not_connected};
        _ -> timer:sleep(50), wait_until_down(C, N - 1)
    end.
