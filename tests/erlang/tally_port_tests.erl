%% The port owner: exact replies, typed errors, and no orphan OS process.
-module(tally_port_tests).
-include_lib("eunit/include/eunit.hrl").

with_port(Fun) ->
    {ok, Owner} = tally_port:start(#{timeout => 5000}),
    try Fun(Owner) after catch tally_port:stop(Owner) end.

same_terms_as_the_nif_test() ->
    with_port(fun(P) ->
        Line = <<"{\"id\":\"e1\",\"source\":\"s\",\"subject\":\"c\",\"time\":\"2024-03-01T00:00:00Z\","
                 "\"data\":{\"resource\":\"r\",\"meter\":\"m\",\"value\":7}}">>,
        ?assertEqual(tally_nif:parse_event_line(Line), tally_port:call(P, parse_event_line, {Line})),
        ?assertEqual(tally_nif:meter_unit(<<"requests">>), tally_port:call(P, meter_unit, {<<"requests">>}))
    end).

unknown_request_is_a_typed_error_test() ->
    with_port(fun(P) ->
        ?assertEqual({error, {unknown_request, <<"no_such_op/1">>}}, tally_port:call(P, no_such_op, {1}))
    end).

killed_port_fails_callers_in_flight_test() ->
    %% The owner's crash report is expected here: keep it out of the test output.
    tally_test_support:quiet(fun killed_port_fails_callers_in_flight/0).

killed_port_fails_callers_in_flight() ->
    process_flag(trap_exit, true),
    {ok, P} = tally_port:start_link(#{timeout => 5000}),
    OsPid = tally_port:os_pid(P),
    _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    receive {'EXIT', P, Reason} -> ?assertEqual({port_exited, 137}, Reason)
    after 5000 -> ?assert(false)
    end.
