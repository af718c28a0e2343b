%% tally_values (generated from the Gleam types by native/bindgen): the
%% accessors read the engine's real replies by the Gleam field names, the
%% constructors build what the engine builds, and the shape checks refuse
%% anything else. Erlang code outside the generated files reads engine
%% values only through these.
-module(tally_values_tests).
-include_lib("eunit/include/eunit.hrl").

-define(CONFIG, {aggregator_config, hour, true, [], [], [], 172800000}).
-define(OPTIONS, {parser_options, 1048576, none, bucket_owner, true}).
-define(T, 1790812800000).

event(Id, Customer, Value) ->
    {usage_event, Id, <<"s">>, Customer, <<"r">>, <<"requests">>, Value, ?T}.

jsonl(Customers) ->
    iolist_to_binary([["{\"id\":\"e", integer_to_binary(I), "\",\"source\":\"s\",\"subject\":\"c",
                       integer_to_binary(I), "\",\"time\":\"2026-10-01T00:00:00Z\",",
                       "\"data\":{\"resource\":\"r\",\"meter\":\"requests\",\"value\":", integer_to_binary(I),
                       "}}\n"] || I <- lists:seq(1, Customers)] ++ ["not json\n"]).

a_loaded_snapshot_is_read_by_name_test() ->
    {ok, Agg} = tally_nif:aggregator_new(?CONFIG),
    {ok, _} = tally_nif:aggregator_add_events(Agg, [event(<<"1">>, <<"acme">>, 5)]),
    Dir = filename:join(os:getenv("TMPDIR", "/tmp"), "tally-values-" ++ os:getpid()),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Path = unicode:characters_to_binary(filename:join(Dir, "a.snap")),
    {ok, _} = tally_nif:aggregator_save(Agg, Path, <<"positions">>),
    {ok, Loaded} = tally_nif:aggregator_load(Path),
    ?assert(tally_values:is_loaded(Loaded)),
    ?assertEqual(<<"positions">>, tally_values:loaded_extra(Loaded)),
    ?assertEqual(tally_nif:aggregator_export(Agg),
                 tally_nif:aggregator_export(tally_values:loaded_aggregator(Loaded))),
    ok = file:del_dir_r(Dir),
    %% The constructor builds the very value the engine gave.
    ?assertEqual(Loaded, tally_values:loaded(tally_values:loaded_aggregator(Loaded), <<"positions">>)).

an_ingested_chunk_is_read_by_name_test() ->
    Chunk = jsonl(20),
    {ok, Ingested} = tally_nif:ingest_chunk(json_lines, ?OPTIONS, 3, Chunk),
    {ok, {parsed, Events, Rejects, Stats}} = tally_nif:parse_chunk(json_lines, ?OPTIONS, Chunk),
    ?assert(tally_values:is_ingested(Ingested)),
    ?assertEqual(3, length(tally_values:ingested_batches(Ingested))),
    ?assertEqual(Rejects, tally_values:ingested_rejects(Ingested)),
    ?assertEqual(1, length(Rejects)),
    ?assertEqual(Stats, tally_values:ingested_stats(Ingested)),
    Counted = [begin {ok, Es} = tally_nif:batch_events(B), Es end || B <- tally_values:ingested_batches(Ingested)],
    ?assertEqual(lists:sort(Events), lists:sort(lists:append(Counted))).

written_batches_are_read_by_name_test() ->
    {ok, Agg} = tally_nif:aggregator_new(?CONFIG),
    {ok, _} = tally_nif:aggregator_add_events(Agg, [event(integer_to_binary(I), <<"c", (integer_to_binary(I))/binary>>, I)
                                                    || I <- lists:seq(1, 7)]),
    Plans = <<"{\"plans\":{\"p\":{\"currency\":\"EUR\",\"lines\":[{\"meter\":\"requests\",\"measure\":\"total\","
              "\"pricing\":{\"model\":\"flat\",\"unit_price\":\"1\"}}]}},\"default_plan\":\"p\"}">>,
    {ok, {written_invoice, Batches, Totals, []}} =
        tally_nif:aggregator_close_written(Agg, <<"2026-10">>, Plans, 1, 0, 1),
    ?assertEqual(7, length(Totals)),
    [begin
         ?assert(tally_values:is_customer_total(T)),
         <<"c", N/binary>> = tally_values:customer_total_customer(T),
         ?assertEqual(<<"EUR">>, tally_values:customer_total_currency(T)),
         ?assertEqual(1, tally_values:customer_total_lines(T)),
         %% Customer cI used I requests at a unit price of 1 (minor units).
         ?assertEqual(binary_to_integer(N), tally_values:customer_total_amount_minor(T))
     end || T <- Totals],
    ?assertNotEqual([], Batches),
    [begin
         ?assert(tally_values:is_written_batch(B)),
         Ids = binary:split(tally_values:written_batch_ids(B), <<"\n">>, [global, trim_all]),
         Lines = binary:split(tally_values:written_batch_lines(B), <<"\n">>, [global, trim_all]),
         ?assertEqual(tally_values:written_batch_count(B), length(Ids)),
         ?assertEqual(length(Ids), length(Lines))
     end || B <- Batches],
    ?assertEqual(7, lists:sum([tally_values:written_batch_count(B) || B <- Batches])).

shape_checks_refuse_other_terms_test() ->
    Batch = tally_values:written_batch(1, <<"k\n">>, <<"{}\n">>),
    ?assert(tally_values:is_written_batch(Batch)),
    ?assertNot(tally_values:is_written_batch({written_batch, 1, <<"k\n">>, not_a_binary})),
    ?assertNot(tally_values:is_written_batch({written_batch, 1, <<"k\n">>})),
    ?assertNot(tally_values:is_written_batch({loaded, 1, <<>>})),
    ?assertNot(tally_values:is_loaded({loaded, make_ref(), not_bytes})),
    ?assertNot(tally_values:is_ingested({ingested, not_a_list, [], nil})),
    ?assertError(function_clause, tally_values:loaded_extra(tally_test_support:ill_typed(Batch))).

%% The errors Erlang code answers with are made by the generated
%% constructors: the very values the engine itself gives.
error_constructors_make_the_engine_s_errors_test() ->
    {ok, Agg} = tally_nif:aggregator_new(?CONFIG),
    ?assertEqual({error, tally_values:bad_argument(<<"a UsageEvent">>)}, tally_nif:aggregator_add_events(Agg, [tally_test_support:ill_typed(bad)])),
    ?assert(tally_values:is_bad_argument(tally_values:bad_argument(<<"x">>))),
    ?assertEqual(<<"x">>, tally_values:bad_argument_expected(tally_values:bad_argument(<<"x">>))),
    ?assertEqual(3, tally_values:port_exited_status(tally_values:port_exited(3))),
    ?assertNot(tally_values:is_port_exited(tally_values:bad_reply(<<"x">>))).
