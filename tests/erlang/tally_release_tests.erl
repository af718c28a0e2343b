%% The OTP release itself (built by `make test` before the BEAM tests):
%% booted with `bin/tally foreground` on the bundled sample, with the bus
%% turned on by TALLY_NATS_URL, it bills the period and every invoice line
%% reaches a real nats-server's stream once; a second boot on the same data
%% directory (the period is closed again) adds nothing to the stream.
-module(tally_release_tests).
-include_lib("eunit/include/eunit.hrl").

-define(RELEASE, "_build/default/rel/tally/bin/tally").

release_bills_the_sample_into_jetstream_test_() ->
    {timeout, 300, fun() -> tally_test_support:quiet(fun release_run/0) end}.


release_run() ->
    ?assert(filelib:is_regular(?RELEASE)),
    Want = tally_pipeline_tests:reference(),
    S = tally_nats_server:start(#{}),
    Data = string:trim(os:cmd("mktemp -d -t tally-release-XXXXXX")),
    try
        Env = [{"TALLY_BASE_DIR", filename:absname("")}, {"TALLY_DATA_DIR", Data},
               {"TALLY_CLOSE_PERIOD", "2026-10"},
               {"TALLY_NATS_URL", "nats://127.0.0.1:" ++ integer_to_list(tally_nats_server:port(S))},
               {"TALLY_NATS_STREAM", "RELEASE_TEST"}],
        {0, Out} = run_release(Env),
        ?assertMatch({_, _}, binary:match(Out, <<"17 invoice lines, 17 published to the sink">>)),
        {0, _} = run_release(Env),
        C = tally_nats_server:client(#{port => tally_nats_server:port(S)}),
        timer:sleep(200),
        Read = tally_nats_server:read_stream(C, <<"RELEASE_TEST">>, length(Want)),
        ?assertEqual(Want, lists:sort([P || {_, P} <- Read])),
        %% Nothing was left for the file sink: the bus took everything.
        ?assertNot(filelib:is_regular(filename:join(Data, "invoices.jsonl")))
    after
        tally_nats_server:stop(S)
    end.

run_release(Env) ->
    Port = open_port({spawn_executable, filename:absname(?RELEASE)},
                     [{args, ["foreground"]}, {env, Env}, exit_status, binary, stderr_to_stdout]),
    collect(Port, <<>>).

collect(Port, Acc) ->
    receive
        {Port, {data, D}} -> collect(Port, <<Acc/binary, D/binary>>);
        {Port, {exit_status, S}} -> {S, Acc}
    after 120000 -> {timeout, Acc}
    end.
