%% The bus part of tally_config: secrets wrapped as soon as they are read,
%% TLS from sys.config, the tls:// scheme and the TALLY_NATS_*_FILE variables.
-module(tally_config_bus_tests).
-include_lib("eunit/include/eunit.hrl").

with_env(AppEnv, OsEnv, Fun) ->
    Old = [{K, application:get_env(tally, K)} || {K, _} <- AppEnv],
    OldOs = [{K, os:getenv(K)} || {K, _} <- OsEnv],
    _ = [application:set_env(tally, K, V) || {K, V} <- AppEnv],
    _ = [os:putenv(K, V) || {K, V} <- OsEnv],
    try Fun()
    after
        _ = [case V of undefined -> application:unset_env(tally, K); {ok, X} -> application:set_env(tally, K, X) end
             || {K, V} <- Old],
        _ = [case V of false -> os:unsetenv(K); X -> os:putenv(K, X) end || {K, V} <- OldOs]
    end.

the_password_never_shows_in_the_configuration_test() ->
    with_env([{bus, #{host => "nats.internal", user => <<"tally">>, password => <<"pw-in-sys-config">>}}],
             [{"TALLY_NATS_PASSWORD", "pw-from-env"}],
             fun() ->
                 #{bus := Bus} = tally_config:get(),
                 Printed = lists:flatten(io_lib:format("~p", [Bus])),
                 ?assertEqual(nomatch, string:find(Printed, "pw-")),
                 #{auth := {user, <<"tally">>, Secret}} = Bus,
                 ?assertEqual(<<"pw-from-env">>, tally_secret:reveal(Secret))
             end).

tls_comes_from_the_scheme_the_bus_map_and_the_environment_test() ->
    with_env([{bus, none}], [{"TALLY_NATS_URL", "tls://nats.internal:4443"}, {"TALLY_NATS_CA_FILE", "/etc/tally/ca.pem"}],
             fun() ->
                 #{bus := Bus} = tally_config:get(),
                 ?assertMatch(#{host := "nats.internal", port := 4443, tls := #{cacertfile := "/etc/tally/ca.pem"}}, Bus)
             end),
    with_env([{bus, #{host => "h", tls => #{cacertfile => "/ca.pem", server_name => "nats.example.com"}}}], [],
             fun() ->
                 #{bus := Bus} = tally_config:get(),
                 ?assertMatch(#{tls := #{cacertfile := "/ca.pem", server_name := "nats.example.com"}}, Bus)
             end),
    with_env([{bus, #{host => "h"}}], [], fun() -> ?assertMatch(#{bus := #{tls := false}}, tally_config:get()) end).
