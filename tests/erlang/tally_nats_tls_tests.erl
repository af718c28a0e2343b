%% tally_nats over TLS against a real nats-server on loopback, with a CA and
%% certificates the test makes: the server is verified against the CA file
%% with its host name checked, a client certificate is sent when the
%% server asks for one, and anything else is refused.
-module(tally_nats_tls_tests).
-include_lib("eunit/include/eunit.hrl").

tmp_dir() -> string:trim(os:cmd("mktemp -d -t tally-tls-XXXXXX")).

client(Server, Tls) ->
    {ok, C} = tally_nats:start_link(#{host => "localhost", port => tally_nats_server:port(Server),
                                      auth => {user, <<"tally">>, <<"s3cret">>}, tls => Tls, ping_interval => 500}),
    C.

never_connects(C) ->
    ?assertEqual({error, not_connected}, tally_nats_server:wait_connected(C, 2000)),
    tally_nats:stop(C).

tls_with_the_servers_ca_publishes_and_anything_else_is_refused_test_() ->
    {timeout, 60, fun() -> tally_test_support:quiet(fun server_tls/0) end}.

server_tls() ->
    Files = tally_nats_server:tls_files(tmp_dir()),
    S = tally_nats_server:start(#{user => {"tally", "s3cret"}, tls => Files}),
    try
        C = client(S, #{cacertfile => maps:get(ca, Files)}),
        ok = tally_nats_server:wait_connected(C, 5000),
        ok = tally_nats:create_stream(C, <<"TLS">>, #{subjects => [<<"tls.>">>]}),
        {ok, #{seq := 1, duplicate := false}} = tally_nats:js_publish(C, <<"tls.a">>, <<"k1">>, <<"{}">>),
        tally_nats:stop(C),
        %% Not configured for TLS: the server's tls_required still upgrades the
        %% connection, and the system's CAs do not know this one.
        never_connects(client(S, false)),
        %% A CA that did not sign the server's certificate.
        never_connects(client(S, #{cacertfile => maps:get(client_ca, Files)})),
        %% The right CA, but the certificate is not for this name.
        never_connects(client(S, #{cacertfile => maps:get(ca, Files), server_name => "nats.example.com"}))
    after
        tally_nats_server:stop(S)
    end.

a_server_that_verifies_clients_takes_the_configured_certificate_test_() ->
    {timeout, 60, fun() -> tally_test_support:quiet(fun client_certificate/0) end}.

client_certificate() ->
    Files = tally_nats_server:tls_files(tmp_dir()),
    S = tally_nats_server:start(#{tls => Files, verify_clients => true}),
    try
        never_connects(client(S, #{cacertfile => maps:get(ca, Files)})),
        C = client(S, #{cacertfile => maps:get(ca, Files), certfile => maps:get(client_cert, Files),
                        keyfile => maps:get(client_key, Files)}),
        ok = tally_nats_server:wait_connected(C, 5000),
        ok = tally_nats:create_stream(C, <<"MTLS">>, #{subjects => [<<"mtls.>">>]}),
        {ok, #{seq := 1}} = tally_nats:js_publish(C, <<"mtls.a">>, <<"k1">>, <<"{}">>),
        tally_nats:stop(C)
    after
        tally_nats_server:stop(S)
    end.
