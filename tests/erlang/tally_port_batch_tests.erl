%% Batches on the port backend (tally_port_batch, native/port/src/ops.rs):
%% a port killed between ingest and apply, and the owner's journal replayed
%% after applies and snapshot loads, still give the NIF's exact totals; a
%% batch key left from a dead port process never acts on another batch.
-module(tally_port_batch_tests).
-include_lib("eunit/include/eunit.hrl").

-define(CONFIG, {aggregator_config, hour, true, [<<"bandwidth_out_bytes">>], [<<"storage_bytes">>], [], 172800000}).
-define(OPTIONS, {parser_options, 1048576, none, bucket_owner, true}).

%% N JSON Lines events from First, over 30 customers and 2 days; every
%% 500th line is malformed and every 61st repeats an earlier id.
chunk(First, N) ->
    iolist_to_binary([line(I) || I <- lists:seq(First, First + N - 1)]).

line(I) when I rem 500 =:= 0 -> <<"{\"id\": broken\n">>;
line(I) ->
    Id = case I rem 61 of 0 -> I - 30; _ -> I end,
    {{Y, Mo, D}, {H, Mi, S}} = calendar:system_time_to_universal_time(1790812800 + (I * 7919) rem 172800, second),
    Stamp = io_lib:format("~4..0b-~2..0b-~2..0bT~2..0b:~2..0b:~2..0bZ", [Y, Mo, D, H, Mi, S]),
    iolist_to_binary(["{\"id\":\"e", integer_to_binary(Id), "\",\"source\":\"edge\",\"subject\":\"c",
                      integer_to_binary(I rem 30), "\",\"time\":\"", Stamp,
                      "\",\"data\":{\"resource\":\"r\",\"meter\":\"bandwidth_out_bytes\",\"value\":",
                      integer_to_binary(I * 31 rem 100000), "}}\n"]).

%% What the NIF makes of the chunks: each shard's export.
nif_exports(Chunks, Shards) ->
    Aggs = [element(2, tally_nif:aggregator_new(?CONFIG)) || _ <- lists:seq(1, Shards)],
    _ = [begin
             {ok, {ingested, Bs, _, _}} = tally_nif:ingest_chunk(json_lines, ?OPTIONS, Shards, C),
             [{ok, _} = tally_nif:aggregator_apply_batch(A, B) || {A, B} <- lists:zip(Aggs, Bs)]
         end || C <- Chunks],
    [element(2, tally_nif:aggregator_export(A)) || A <- Aggs].

kill(Ref) ->
    Old = tally_port:os_pid(Ref),
    _ = os:cmd("kill -9 " ++ integer_to_list(Old)),
    wait_new_os_pid(Ref, Old).

wait_new_os_pid(Ref, Old) ->
    case catch tally_port:os_pid(Ref) of
        Old -> timer:sleep(5), wait_new_os_pid(Ref, Old);
        New when is_integer(New) -> ok;
        _ -> timer:sleep(5), wait_new_os_pid(Ref, Old)
    end.

with_port(Opts, Fun) ->
    tally_test_support:quiet(fun() ->
        {ok, Ref} = tally_port:start_supervised(Opts#{timeout => 30000}),
        try Fun(Ref) after tally_port:stop(Ref) end
    end).

same_batches_as_the_nif_test() ->
    with_port(#{}, fun(Ref) ->
        Chunk = chunk(1, 2000),
        {ok, {ingested, Nif, Rejects, Stats}} = tally_nif:ingest_chunk(json_lines, ?OPTIONS, 3, Chunk),
        {ok, {ingested, Port, Rejects, Stats}} = tally_port_batch:ingest_chunk(Ref, json_lines, ?OPTIONS, 3, Chunk),
        ?assertEqual([tally_nif:batch_events(B) || B <- Nif], [tally_port_batch:events(Ref, B) || B <- Port]),
        {ok, A} = tally_port:call(Ref, aggregator_new, {?CONFIG}),
        [B0 | _] = Port,
        ?assertMatch({ok, {counters, _, _, 0}}, tally_port_batch:apply_batch(Ref, A, B0)),
        %% Applied once: the port freed it and refuses it again.
        ?assertEqual({error, {bad_argument, <<"a batch not applied yet">>}}, tally_port_batch:apply_batch(Ref, A, B0)),
        ?assertEqual({error, {bad_argument, <<"a batch not applied yet">>}}, tally_port_batch:events(Ref, B0)),
        ?assertEqual({error, {bad_argument, <<"a batch">>}}, tally_port_batch:apply_batch(Ref, A, tally_test_support:ill_typed(not_a_batch)))
    end).

%% The port dies after ingest_chunk and before the batches are applied: the
%% new process has never seen their keys, and new batches made there reuse
%% the same numbers; the old batches are made again from their recipes, so
%% every shard ends with the NIF's exact state.
killed_between_ingest_and_apply_test_() ->
    {timeout, 60, fun() ->
        with_port(#{}, fun(Ref) ->
            Chunks = [chunk(1, 3000), chunk(3001, 3000)],
            Want = nif_exports(Chunks, 2),
            Aggs = [element(2, {ok, _} = tally_port:call(Ref, aggregator_new, {?CONFIG})) || _ <- [1, 2]],
            {ok, {ingested, Old, _, _}} = tally_port_batch:ingest_chunk(Ref, json_lines, ?OPTIONS, 2, hd(Chunks)),
            kill(Ref),
            %% The new process numbers its batches from 1 again.
            {ok, {ingested, New, _, _}} = tally_port_batch:ingest_chunk(Ref, json_lines, ?OPTIONS, 2, lists:last(Chunks)),
            [{port_batch, {S1, N1}, _} | _] = Old,
            [{port_batch, {S2, N2}, _} | _] = New,
            ?assertEqual(N1, N2),
            ?assertNotEqual(S1, S2),
            _ = [{ok, _} = tally_port_batch:apply_batch(Ref, A, B) || {A, B} <- lists:zip(Aggs, Old)],
            _ = [{ok, _} = tally_port_batch:apply_batch(Ref, A, B) || {A, B} <- lists:zip(Aggs, New)],
            ?assertEqual(Want, [element(2, tally_port:call(Ref, aggregator_export, {A})) || A <- Aggs])
        end)
    end}.

%% Kills after applies: the owner rebuilds from its checkpoints and replays
%% the journaled applies from their recipes (their keys are stale in the new
%% process), counting each batch exactly once.
killed_after_applies_replays_them_exactly_test_() ->
    {timeout, 120, fun() ->
        with_port(#{checkpoint_ops => 20, checkpoint_ratio => 0}, fun(Ref) ->
            Chunks = [chunk(I * 1000 + 1, 1000) || I <- lists:seq(0, 19)],
            Want = nif_exports(Chunks, 3),
            Aggs = [element(2, {ok, _} = tally_port:call(Ref, aggregator_new, {?CONFIG})) || _ <- [1, 2, 3]],
            {_, Replays} = lists:foldl(fun(C, {I, R}) ->
                            {ok, {ingested, Bs, _, _}} = tally_port_batch:ingest_chunk(Ref, json_lines, ?OPTIONS, 3, C),
                            _ = [{ok, _} = tally_port_batch:apply_batch(Ref, A, B) || {A, B} <- lists:zip(Aggs, Bs)],
                            Replayed = case I rem 4 of
                                           3 -> #{journal_ops := Ops} = tally_port:stats(Ref), kill(Ref), [Ops];
                                           _ -> []
                                       end,
                            {I + 1, Replayed ++ R}
                        end, {0, []}, Chunks),
            %% Some kills had journaled applies to replay, not only a checkpoint.
            ?assert(lists:max(Replays) > 0),
            ?assertEqual(Want, [element(2, tally_port:call(Ref, aggregator_export, {A})) || A <- Aggs])
        end)
    end}.

%% A snapshot loaded into the port, then replaced on disk by a later save:
%% after a kill the owner rebuilds from the copy it kept of the file it
%% loaded, not from the newer file (which would count the applies since twice).
load_replays_from_the_file_it_read_test_() ->
    {timeout, 60, fun() ->
        with_port(#{checkpoint_ops => 1000}, fun(Ref) ->
            Dir = filename:join(case os:getenv("TMPDIR") of false -> "/tmp"; D -> D end,
                                "tally-port-load-" ++ os:getpid()),
            Path = list_to_binary(filename:join(Dir, "shard.snap")),
            ok = filelib:ensure_dir(Path),
            [C1, C2] = [chunk(1, 2000), chunk(2001, 2000)],
            Want = nif_exports([C1, C2], 1),
            {ok, A} = tally_port:call(Ref, aggregator_new, {?CONFIG}),
            {ok, {ingested, [B1], _, _}} = tally_port_batch:ingest_chunk(Ref, json_lines, ?OPTIONS, 1, C1),
            {ok, _} = tally_port_batch:apply_batch(Ref, A, B1),
            {ok, _} = tally_port:call(Ref, aggregator_save, {A, Path, <<"first">>}),
            {ok, {loaded, L, <<"first">>}} = tally_port:call(Ref, aggregator_load, {Path}),
            ?assert(is_integer(L) andalso L =/= A),
            {ok, {ingested, [B2], _, _}} = tally_port_batch:ingest_chunk(Ref, json_lines, ?OPTIONS, 1, C2),
            {ok, _} = tally_port_batch:apply_batch(Ref, L, B2),
            {ok, _} = tally_port:call(Ref, aggregator_save, {L, Path, <<"second">>}),
            kill(Ref),
            ?assertEqual({ok, hd(Want)}, tally_port:call(Ref, aggregator_export, {L})),
            ?assertMatch({ok, {loaded, _, <<"second">>}}, tally_port:call(Ref, aggregator_load, {Path})),
            ok = file:del_dir_r(Dir)
        end)
    end}.
