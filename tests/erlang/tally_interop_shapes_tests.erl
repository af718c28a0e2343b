%% Each Gleam shape, as the NIF encodes it (native/interop): exact terms.
-module(tally_interop_shapes_tests).
-include_lib("eunit/include/eunit.hrl").

-define(CONFIG, {aggregator_config, month, true, [], [], [<<"visitors">>], 172800000}).
-define(OCT1, 1790812800000).
-define(MAX, 9223372036854775807).

event(Id, Meter, Value) ->
    {usage_event, Id, <<"s">>, <<"acme">>, <<"r">>, Meter, Value, ?OCT1}.

option_some_and_none_test() ->
    ?assertEqual({ok, {some, count}}, tally_nif:meter_unit(<<"requests">>)),
    ?assertEqual({ok, none}, tally_nif:meter_unit(<<"widgets">>)).

result_ok_and_error_test() ->
    ?assertMatch({ok, {ok, {usage_event, _, _, _, _, _, _, _}}},
                 tally_nif:parse_event_line(<<"{\"id\":\"1\",\"source\":\"s\",\"subject\":\"c\",\"time\":\"2026-10-01T00:00:00Z\","
                                              "\"data\":{\"resource\":\"r\",\"meter\":\"m\",\"value\":1}}">>)),
    ?assertEqual({ok, {error, {invalid_json, 1, <<"'{'">>}}}, tally_nif:parse_event_line(<<"[]">>)).

nil_test() ->
    {ok, A} = tally_nif:aggregator_new(?CONFIG),
    {ok, B} = tally_nif:aggregator_new(?CONFIG),
    ?assertEqual({ok, nil}, tally_nif:aggregator_merge(A, B)).

custom_types_lists_and_variants_test() ->
    {ok, A} = tally_nif:aggregator_new(?CONFIG),
    {ok, _} = tally_nif:aggregator_add_events(A, [event(<<"1">>, <<"visitors">>, 4), event(<<"2">>, <<"visitors">>, 4)]),
    %% A record with fields, an Option with a value, in a list.
    ?assertEqual({ok, [{window_aggregate, <<"acme">>, <<"r">>, <<"visitors">>, ?OCT1, 8, 2, 4, 4, 4, ?OCT1, {some, 1}}]},
                 tally_nif:aggregator_windows(A)),
    Plans = <<"{\"plans\": {\"p\": {\"currency\": \"EUR\", \"lines\": [{\"meter\": \"visitors\", \"measure\": \"total\","
              " \"pricing\": {\"model\": \"flat\", \"unit_price\": \"0.25\"}}]}}, \"default_plan\": \"p\"}">>,
    %% Variants without fields are bare atoms (total, plain_unit); fractions are records.
    ?assertEqual({ok, {invoice, [{invoice_line, <<"acme/*/visitors/total/2026-10">>, <<"acme">>, <<"*">>, <<"visitors">>,
                                  total, <<"2026-10">>, 1, <<"p">>, <<"EUR">>, plain_unit,
                                  {fraction, 8, 1}, {fraction, 0, 1}, {fraction, 8, 1}, {fraction, 1, 4}, 2}], []}},
                 tally_nif:aggregator_close_period(A, <<"2026-10">>, Plans, 1)).

integers_beyond_64_bits_are_bignums_test() ->
    {ok, A} = tally_nif:aggregator_new(?CONFIG),
    {ok, _} = tally_nif:aggregator_add_events(A, [event(integer_to_binary(I), <<"bytes">>, ?MAX) || I <- lists:seq(1, 4)]),
    {ok, [{window_aggregate, _, _, _, _, Sum, 4, ?MAX, ?MAX, ?MAX, _, none}]} = tally_nif:aggregator_windows(A),
    ?assertEqual(4 * ?MAX, Sum).

errors_keep_kind_and_context_test() ->
    ?assertEqual({error, {bad_argument, <<"a Window">>}},
                 tally_nif:aggregator_new({aggregator_config, week, true, [], [], [], 0})),
    ?assertEqual({error, {aggregate_failed, {bad_export, <<"wrong magic bytes">>}}},
                 tally_nif:aggregator_restore(<<"nonsense">>)),
    {ok, A} = tally_nif:aggregator_new(?CONFIG),
    {error, {billing_failed, {plans_invalid, Why}}} = tally_nif:aggregator_close_period(A, <<"2026-10">>, <<"{">>, 1),
    ?assertMatch({match, _}, re:run(Why, "plans file: EOF while parsing")).
