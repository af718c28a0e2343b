%% Exact terms returned by each NIF, in Gleam's shapes.
-module(tally_nif_tests).
-include_lib("eunit/include/eunit.hrl").

-define(EVENT_LINE, <<"{\"id\":\"e1\",\"source\":\"/edge/fra1\",\"subject\":\"acme\",\"time\":\"2024-03-01T12:00:00Z\","
                "\"data\":{\"resource\":\"bucket-1\",\"meter\":\"requests\",\"value\":3}}">>).

engine_info_test() ->
    {ok, {engine_info, <<"tally_core/nif">>, <<"0.1.0">>, Commit}} = tally_nif:engine_info(),
    ?assert(Commit =:= none orelse (element(1, Commit) =:= some andalso is_binary(element(2, Commit)))).

meter_unit_test() ->
    ?assertEqual({ok, {some, bytes}}, tally_nif:meter_unit(<<"storage_bytes">>)),
    ?assertEqual({ok, none}, tally_nif:meter_unit(<<"no_such_meter">>)).

parse_event_line_test() ->
    ?assertEqual({ok, {ok, {usage_event, <<"e1">>, <<"/edge/fra1">>, <<"acme">>, <<"bucket-1">>,
                            <<"requests">>, 3, 1709294400000}}},
                 tally_nif:parse_event_line(?EVENT_LINE)),
    ?assertEqual({ok, {error, {missing_field, <<"subject">>}}},
                 tally_nif:parse_event_line(binary:replace(?EVENT_LINE, <<"\"subject\":\"acme\",">>, <<>>))).

no_atom_is_created_from_input_test() ->
    Before = erlang:system_info(atom_count),
    Unique = integer_to_binary(erlang:unique_integer([positive])),
    _ = tally_nif:meter_unit(<<"never_an_atom_", Unique/binary>>),
    _ = tally_nif:parse_event_line(<<"{\"never_an_atom_", Unique/binary, "\":1}">>),
    ?assertEqual(Before, erlang:system_info(atom_count)).

long_lines_go_to_the_dirty_scheduler_and_agree_test() ->
    Padding = binary:copy(<<"x">>, 100000),
    Line = binary:replace(?EVENT_LINE, <<"\"data\":{">>, <<"\"pad\":\"", Padding/binary, "\",\"data\":{">>),
    ?assertMatch({ok, {ok, {usage_event, <<"e1">>, _, _, _, _, 3, _}}}, tally_nif:parse_event_line(Line)).
