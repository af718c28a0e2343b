%% The engine NIFs from Erlang: exact raw terms, no atoms from input,
%% scheduling under load, concurrent use of one aggregator.
-module(tally_nif_engine_tests).
-include_lib("eunit/include/eunit.hrl").
-include_lib("kernel/include/file.hrl").

-define(OPTIONS, {parser_options, 1048576, none, bucket_owner, true}).
-define(CONFIG, {aggregator_config, hour, true, [<<"bandwidth_out_bytes">>], [<<"storage_bytes">>], [], 172800000}).
-define(OCT1, 1790812800000).

line(Id, Customer, Value) ->
    iolist_to_binary(["{\"id\":\"", Id, "\",\"source\":\"s\",\"subject\":\"", Customer,
                      "\",\"time\":\"2026-10-01T00:00:01Z\",\"data\":{\"resource\":\"r\",\"meter\":\"requests\",\"value\":",
                      integer_to_binary(Value), "}}\n"]).

parse_chunk_raw_terms_test() ->
    Csv = <<"timestamp,customer,bucket,bytes\n2026-10-01T00:00:00Z,acme,b1,10\nbad\n">>,
    ?assertEqual(
       {ok, {parsed,
             [{usage_event, <<"acme/b1/1790812800000">>, <<"storage_csv">>, <<"acme">>, <<"b1">>,
               <<"storage_bytes">>, 10, ?OCT1}],
             [{reject, storage_csv, 3, 64, {wrong_field_count, 4, 1}, <<"bad">>}],
             {parse_stats, 3, 1, 1, 1, 1, 68}}},
       tally_nif:parse_chunk(storage_csv, ?OPTIONS, Csv)),
    ?assertEqual({error, {bad_argument, <<"a Format">>}}, tally_nif:parse_chunk(not_a_format, ?OPTIONS, Csv)).

aggregator_raw_terms_test() ->
    {ok, Agg} = tally_nif:aggregator_new(?CONFIG),
    ?assert(is_reference(Agg)),
    Event = {usage_event, <<"e1">>, <<"s">>, <<"acme">>, <<"r">>, <<"requests">>, 3, ?OCT1},
    ?assertEqual({ok, {counters, 1, 0, 0}}, tally_nif:aggregator_add_events(Agg, [Event])),
    ?assertEqual({ok, [{window_aggregate, <<"acme">>, <<"r">>, <<"requests">>, ?OCT1, 3, 1, 3, 3, 3, ?OCT1, none}]},
                 tally_nif:aggregator_windows(Agg)),
    {ok, Bytes} = tally_nif:aggregator_export(Agg),
    {ok, Copy} = tally_nif:aggregator_restore(Bytes),
    ?assertEqual({ok, Bytes}, tally_nif:aggregator_export(Copy)),
    ?assertEqual({error, {bad_argument, <<"two different aggregators">>}}, tally_nif:aggregator_merge(Agg, Agg)),
    ?assertEqual({error, {aggregate_failed, {overlap, <<"2026-10">>, 1}}}, tally_nif:aggregator_merge(Agg, Copy)),
    ?assertEqual({error, {bad_argument, <<"a UsageEvent">>}}, tally_nif:aggregator_add_events(Agg, [tally_test_support:ill_typed(not_an_event)])),
    ?assertEqual({error, {bad_argument, <<"AggregatorConfig">>}}, tally_nif:aggregator_new({aggregator_config})).

%% The NIF's own atoms (tags like feed_result) come from a fixed set in its
%% code: one round of calls creates those, a second round with new input
%% must create none.
no_atom_is_created_from_input_test() ->
    Round = fun() ->
        {ok, Agg} = tally_nif:aggregator_new(?CONFIG),
        {ok, Parser} = tally_nif:parser_new(json_lines, ?OPTIONS),
        Novel = <<"never_an_atom_", (integer_to_binary(erlang:unique_integer([positive])))/binary>>,
        {ok, _} = tally_nif:aggregator_feed(Agg, Parser, line(Novel, Novel, 1)),
        {ok, _} = tally_nif:aggregator_feed(Agg, Parser, <<"{\"", Novel/binary, "\":1}\n">>),
        {ok, _} = tally_nif:aggregator_windows(Agg),
        {ok, _} = tally_nif:parse_chunk(json_lines, ?OPTIONS, <<"{\"", Novel/binary, "\":1}\n">>),
        _ = tally_nif:parse_chunk(json_lines, {parser_options, 10, {some, Novel}, requester, true}, line(Novel, Novel, 2)),
        _ = tally_nif:aggregator_close_period(Agg, <<"2026-10">>, <<"{\"plans\": {}, \"customers\": {\"", Novel/binary, "\": \"x\"}}">>, 1),
        {ok, {ingested, Bs, _, _}} = tally_nif:ingest_chunk(json_lines, ?OPTIONS, 3, <<(line(Novel, Novel, 3))/binary, "{\"", Novel/binary, "\":1}\n">>),
        _ = [{ok, _} = tally_nif:batch_events(B) || B <- Bs],
        _ = [{ok, _} = tally_nif:aggregator_apply_batch(Agg, B) || B <- Bs],
        {ok, _} = tally_nif:shard_of(Novel, 3),
        ok
    end,
    ok = Round(),
    Before = erlang:system_info(atom_count),
    ok = Round(),
    ?assertEqual(Before, erlang:system_info(atom_count)).

%% Many megabytes through the NIF while the long-schedule monitor watches:
%% no process may run over 1 ms on a normal scheduler. A probe process
%% measures how late its own timers fire and prints the worst case.
%% A NIF that ran a megabyte on a normal scheduler would make a long
%% schedule (over 1 ms) of its caller on every one of the 20-30 rounds these
%% tests make. On a loaded machine the OS can also take the core away from a
%% process running Erlang code now and then; that many are tolerated.
-define(OS_NOISE, 2).

long_inputs_never_block_a_scheduler_test_() ->
    {timeout, 120, fun long_inputs_never_block_a_scheduler/0}.

long_inputs_never_block_a_scheduler() ->
    Chunk = iolist_to_binary([line(integer_to_binary(I), <<"c", (integer_to_binary(I rem 100))/binary>>, I)
                              || I <- lists:seq(1, 8000)]),
    Chunks = [binary:copy(Chunk) || _ <- lists:seq(1, 30)],
    MB = byte_size(Chunk) * length(Chunks) / 1048576,
    {ok, Agg} = tally_nif:aggregator_new(?CONFIG),
    {ok, Parser} = tally_nif:parser_new(json_lines, ?OPTIONS),
    Self = self(),
    Probe = spawn_link(fun() -> probe(Self, 0) end),
    _ = erlang:system_monitor(Self, [{long_schedule, 1}]),
    Feeder = spawn_link(fun() ->
                            _ = [{ok, _} = tally_nif:aggregator_feed(Agg, Parser, C) || C <- Chunks],
                            {ok, _} = tally_nif:parse_chunk(json_lines, ?OPTIONS, Chunk),
                            {ok, _} = tally_nif:aggregator_windows(Agg),
                            {ok, _} = tally_nif:aggregator_export(Agg),
                            Self ! {fed, self()}
                        end),
    receive {fed, Feeder} -> ok after 100000 -> error(feeding_timed_out) end,
    _ = erlang:system_monitor(undefined),
    Probe ! stop,
    Worst = receive {probe, W} -> W after 5000 -> error(no_probe_report) end,
    Long = flush_long_schedules([]),
    io:format(user, "~n  fed ~.1f MB through the NIF; probe's worst timer lateness ~.2f ms; "
                    "long schedules over 1 ms: ~p~n", [MB, Worst / 1000, length(Long)]),
    ?assertEqual({ok, {counters, 8000, 8000 * 29, 0}}, tally_nif:aggregator_counters(Agg)),
    ?assertMatch(Few when length(Few) =< ?OS_NOISE, [L || L = {Pid, _, _} <- Long, Pid =:= Feeder]).

probe(Parent, Worst) ->
    T0 = erlang:monotonic_time(microsecond),
    receive
        stop -> Parent ! {probe, Worst}
    after 1 ->
        Late = erlang:monotonic_time(microsecond) - T0 - 1000,
        probe(Parent, max(Worst, Late))
    end.

flush_long_schedules(Acc) ->
    receive
        {monitor, Pid, long_schedule, Info} -> flush_long_schedules([{Pid, long_schedule, Info} | Acc])
    after 0 -> Acc
    end.

%% Eight processes add disjoint events to one aggregator at once; the totals
%% equal those of one process adding them all.
concurrent_calls_give_serial_totals_test_() ->
    {timeout, 60, fun concurrent_calls_give_serial_totals/0}.

concurrent_calls_give_serial_totals() ->
    Events = fun(Worker) ->
                 [{usage_event, <<(integer_to_binary(Worker))/binary, "-", (integer_to_binary(I))/binary>>,
                   <<"s">>, <<"c", (integer_to_binary(I rem 7))/binary>>, <<"r">>, <<"requests">>, I,
                   ?OCT1 + I * 1000} || I <- lists:seq(1, 5000)]
             end,
    {ok, Shared} = tally_nif:aggregator_new(?CONFIG),
    Self = self(),
    Pids = [spawn_link(fun() ->
                           _ = [{ok, _} = tally_nif:aggregator_add_events(Shared, Batch)
                                || Batch <- batches(Events(W), 250)],
                           Self ! {done, self()}
                       end) || W <- lists:seq(1, 8)],
    [receive {done, P} -> ok after 30000 -> error(timeout) end || P <- Pids],
    {ok, Serial} = tally_nif:aggregator_new(?CONFIG),
    _ = [{ok, _} = tally_nif:aggregator_add_events(Serial, Events(W)) || W <- lists:seq(1, 8)],
    ?assertEqual(tally_nif:aggregator_windows(Serial), tally_nif:aggregator_windows(Shared)),
    ?assertEqual({ok, {counters, 40000, 0, 0}}, tally_nif:aggregator_counters(Shared)).

batches([], _) -> [];
batches(L, N) when length(L) =< N -> [L];
batches(L, N) -> {B, Rest} = lists:split(N, L), [B | batches(Rest, N)].

%%% The release's main path: events stay in Rust.

shard_of_raw_terms_test() ->
    ?assertEqual({ok, 1}, tally_nif:shard_of(<<"acme">>, 4)),   % pinned in native/core/src/shard.rs
    ?assertEqual({ok, 0}, tally_nif:shard_of(<<"acme">>, 1)),
    _ = [?assertEqual({ok, tally_xxh3:hash64(C) rem N}, tally_nif:shard_of(C, N))
         || I <- lists:seq(1, 200), N <- [2, 3, 7, 16#FFFFFFFF],
            C <- [<<"customer-", (integer_to_binary(I))/binary, "-é"/utf8>>]],
    Bad = {error, {bad_argument, <<"a shard count from 1 to 2^32-1">>}},
    %% Counts the spec refuses, on purpose: the NIF must answer bad_argument.
    _ = [?assertEqual(Bad, tally_nif:shard_of(<<"acme">>, tally_test_support:ill_typed(N)))
         || N <- [0, -1, 16#100000000, four]],
    ?assertEqual({error, {bad_argument, <<"a UTF-8 customer">>}}, tally_nif:shard_of(<<255>>, 4)).

ingest_chunk_raw_terms_test() ->
    Csv = <<"timestamp,customer,bucket,bytes\n2026-10-01T00:00:00Z,acme,b1,10\nbad\n"
            "2026-10-01T00:00:00Z,gamma,b2,20\n2026-10-01T01:00:00Z,acme,b1,30\n">>,
    {ok, {ingested, [B0, B1], Rejects, Stats}} = tally_nif:ingest_chunk(storage_csv, ?OPTIONS, 2, Csv),
    ?assert(is_reference(B0) andalso is_reference(B1)),
    %% Rejects and counts exactly as parse_chunk gives them, offsets within the chunk.
    ?assertEqual([{reject, storage_csv, 3, 64, {wrong_field_count, 4, 1}, <<"bad">>}], Rejects),
    ?assertEqual({parse_stats, 5, 3, 1, 1, 3, byte_size(Csv)}, Stats),
    {ok, {parsed, Events, Rejects, Stats}} = tally_nif:parse_chunk(storage_csv, ?OPTIONS, Csv),
    %% shard_of("acme", 2) = 1, shard_of("gamma", 2) = 0.
    ?assertEqual({ok, 1}, tally_nif:shard_of(<<"acme">>, 2)),
    ?assertEqual({ok, 0}, tally_nif:shard_of(<<"gamma">>, 2)),
    ?assertEqual({ok, [E || E <- Events, element(4, E) =:= <<"gamma">>]}, tally_nif:batch_events(B0)),
    ?assertEqual({ok, [{usage_event, <<"acme/b1/1790812800000">>, <<"storage_csv">>, <<"acme">>, <<"b1">>,
                        <<"storage_bytes">>, 10, ?OCT1},
                       {usage_event, <<"acme/b1/1790816400000">>, <<"storage_csv">>, <<"acme">>, <<"b1">>,
                        <<"storage_bytes">>, 30, ?OCT1 + 3600000}]},
                 tally_nif:batch_events(B1)),
    {ok, {ingested, [Empty], [], {parse_stats, 0, 0, 0, 0, 0, 0}}} = tally_nif:ingest_chunk(json_lines, ?OPTIONS, 1, <<>>),
    ?assertEqual({ok, []}, tally_nif:batch_events(Empty)),
    ?assertEqual({error, {bad_argument, <<"a Format">>}}, tally_nif:ingest_chunk(not_a_format, ?OPTIONS, 2, Csv)),
    ?assertEqual({error, {bad_argument, <<"a shard count from 1 to 2^32-1">>}},
                 tally_nif:ingest_chunk(storage_csv, ?OPTIONS, tally_test_support:ill_typed(0), Csv)).

apply_batch_raw_terms_test() ->
    Chunk = iolist_to_binary([line(<<"e", (integer_to_binary(I))/binary>>, <<"c", (integer_to_binary(I rem 9))/binary>>, I)
                              || I <- lists:seq(1, 300)] ++ [line(<<"e7">>, <<"c7">>, 7)]),
    {ok, {ingested, Batches, [], _}} = tally_nif:ingest_chunk(json_lines, ?OPTIONS, 3, Chunk),
    {ok, Shards} = lists:foldl(fun(_, {ok, Acc}) -> {ok, Agg} = tally_nif:aggregator_new(?CONFIG), {ok, [Agg | Acc]} end,
                               {ok, []}, Batches),
    Applied = [tally_nif:aggregator_apply_batch(A, B) || {A, B} <- lists:zip(Shards, Batches)],
    %% 301 events, one a duplicate (e7 again): every shard counted its own.
    ?assertEqual(300, lists:sum([N || {ok, {counters, N, _, 0}} <- Applied])),
    ?assertEqual(1, lists:sum([D || {ok, {counters, _, D, 0}} <- Applied])),
    %% A batch is applied once; its memory is gone.
    [B0 | _] = Batches,
    ?assertEqual({error, {bad_argument, <<"a batch not applied yet">>}}, tally_nif:aggregator_apply_batch(hd(Shards), B0)),
    ?assertEqual({error, {bad_argument, <<"a batch not applied yet">>}}, tally_nif:batch_events(B0)),
    %% The shards merged equal one aggregator that was given the events as terms.
    {ok, Merged} = tally_nif:aggregator_new(?CONFIG),
    _ = [{ok, nil} = tally_nif:aggregator_merge(Merged, A) || A <- Shards],
    {ok, {parsed, Events, [], _}} = tally_nif:parse_chunk(json_lines, ?OPTIONS, Chunk),
    {ok, One} = tally_nif:aggregator_new(?CONFIG),
    ?assertEqual({ok, {counters, 300, 1, 0}}, tally_nif:aggregator_add_events(One, Events)),
    ?assertEqual(tally_nif:aggregator_export(One), tally_nif:aggregator_export(Merged)).

tmp_dir(Name) ->
    Dir = filename:join(case os:getenv("TMPDIR") of false -> "/tmp"; D -> D end,
                        Name ++ "-" ++ os:getpid() ++ "-" ++ integer_to_list(erlang:unique_integer([positive]))),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Dir.

save_and_load_raw_terms_test() ->
    Dir = tmp_dir("tally-snap"),
    Path = list_to_binary(filename:join(Dir, "shard-0.snap")),
    {ok, Agg} = tally_nif:aggregator_new(?CONFIG),
    {ok, _} = tally_nif:aggregator_add_events(Agg, [{usage_event, <<"e1">>, <<"s">>, <<"acme">>, <<"r">>, <<"requests">>, 3, ?OCT1}]),
    {ok, Export} = tally_nif:aggregator_export(Agg),
    Extra = term_to_binary(#{<<"source">> => {12345, 678}}),
    {ok, Written} = tally_nif:aggregator_save(Agg, Path, Extra),
    {ok, File} = file:read_file(Path),
    %% A first save writes the base whole, and starts its log: a header
    %% naming the base by its checksum.
    {ok, Log} = file:read_file(<<Path/binary, ".log">>),
    ?assertEqual(byte_size(File) + byte_size(Log), Written),
    ?assertEqual(<<"TALLYSL", 0, 1:32/little, (binary:part(File, byte_size(File) - 8, 8))/binary>>, Log),
    %% magic, version, the extra, the export (its checksum inside), the file's checksum.
    ExtraSize = byte_size(Extra),
    ?assertMatch(<<"TALLYSN", 0, 1:32/little, ExtraSize:64/little, Extra:ExtraSize/binary, Export:(byte_size(Export))/binary, _:64>>,
                 File),
    <<Covered:(byte_size(File) - 8)/binary, Sum:64/little>> = File,
    ?assertEqual(tally_xxh3:hash64(Covered), Sum),
    {ok, #file_info{mode = Mode}} = file:read_file_info(Path),
    ?assertEqual(8#600, Mode band 8#777),
    {ok, {loaded, Copy, Extra}} = tally_nif:aggregator_load(Path),
    ?assert(is_reference(Copy)),
    ?assertEqual({ok, Export}, tally_nif:aggregator_export(Copy)),
    %% Saving the loaded aggregator again appends a delta of what changed
    %% (one window, its counters, the extra) to the log; the base stays.
    {ok, _} = tally_nif:aggregator_add_events(Copy, [{usage_event, <<"e2">>, <<"s">>, <<"acme">>, <<"r2">>, <<"requests">>, 4, ?OCT1}]),
    {ok, Delta} = tally_nif:aggregator_save(Copy, Path, <<>>),
    {ok, Log2} = file:read_file(<<Path/binary, ".log">>),
    ?assertEqual({ok, File}, file:read_file(Path)),
    ?assertEqual(byte_size(Log) + Delta, byte_size(Log2)),
    ?assert(Delta < byte_size(File)),
    {ok, Export2} = tally_nif:aggregator_export(Copy),
    {ok, {loaded, Copy2, <<>>}} = tally_nif:aggregator_load(Path),
    ?assertEqual({ok, Export2}, tally_nif:aggregator_export(Copy2)),
    %% An aggregator not saved there before writes a new base; no temporary file is left.
    {ok, Fresh} = tally_nif:aggregator_restore(Export),
    {ok, _} = tally_nif:aggregator_save(Fresh, Path, <<"again">>),
    {ok, {loaded, Copy3, <<"again">>}} = tally_nif:aggregator_load(Path),
    ?assertEqual({ok, Export}, tally_nif:aggregator_export(Copy3)),
    {ok, File3} = file:read_file(Path),
    ?assertEqual({ok, <<"TALLYSL", 0, 1:32/little, (binary:part(File3, byte_size(File3) - 8, 8))/binary>>},
                 file:read_file(<<Path/binary, ".log">>)),
    {ok, Names} = file:list_dir(Dir),
    ?assertEqual(["shard-0.snap", "shard-0.snap.log"], lists:sort(Names)),
    %% Errors: missing files and directories, damage.
    Missing = list_to_binary(filename:join(Dir, "none.snap")),
    ?assertEqual({error, {snapshot_failed, Missing, <<"enoent">>}}, tally_nif:aggregator_load(Missing)),
    NoDir = list_to_binary(filename:join([Dir, "no", "x.snap"])),
    ?assertEqual({error, {snapshot_failed, NoDir, <<"enoent">>}}, tally_nif:aggregator_save(Agg, NoDir, <<>>)),
    Damaged = list_to_binary(filename:join(Dir, "damaged.snap")),
    <<Head:40/binary, B, Tail/binary>> = File,
    ok = file:write_file(Damaged, <<Head/binary, (B bxor 4), Tail/binary>>),
    ?assertEqual({error, {aggregate_failed, {bad_export, <<"snapshot checksum mismatch">>}}}, tally_nif:aggregator_load(Damaged)),
    ok = file:write_file(Damaged, <<"TALLYAG">>),
    ?assertEqual({error, {aggregate_failed, {bad_export, <<"snapshot truncated">>}}}, tally_nif:aggregator_load(Damaged)),
    ok = file:del_dir_r(Dir).

%% #16.10: a real export (a month of hourly windows, rates, gauges and dedup
%% digests for 40 series) with any single bit flipped is refused: every bit
%% by the NIF, a thousand random ones by the Gleam engine (whose XXH3 runs in
%% Erlang), and the undamaged export restores on both.
every_bit_flip_of_an_export_is_refused_test_() ->
    {timeout, 300, fun every_bit_flip_of_an_export_is_refused/0}.

every_bit_flip_of_an_export_is_refused() ->
    Events = [{usage_event, <<"e", (integer_to_binary(I))/binary>>, <<"s">>, <<"c", (integer_to_binary(I rem 10))/binary>>,
               <<"r", (integer_to_binary(I rem 4))/binary>>,
               lists:nth(1 + I rem 3, [<<"requests">>, <<"bandwidth_out_bytes">>, <<"storage_bytes">>]),
               I * 7919 rem 100000, ?OCT1 + (I * 3600000) rem (30 * 86400000)} || I <- lists:seq(1, 150)],
    {ok, Agg} = tally_nif:aggregator_new(?CONFIG),
    {ok, _} = tally_nif:aggregator_add_events(Agg, Events),
    {ok, Export} = tally_nif:aggregator_export(Agg),
    Bits = byte_size(Export) * 8,
    Flip = fun(Bit) ->
               <<H:Bit/bits, X:1, T/bits>> = Export,
               <<H:Bit/bits, (1 - X):1, T/bits>>
           end,
    Restored = [Bit || Bit <- lists:seq(0, Bits - 1), element(1, tally_nif:aggregator_restore(Flip(Bit))) =:= ok],
    ?assertEqual([], Restored),
    _ = rand:seed(exsss, {16, 10, 1}),
    Sample = [rand:uniform(Bits) - 1 || _ <- lists:seq(1, 1000)],
    ?assertEqual([], [Bit || Bit <- Sample, element(1, 'tally@pure':aggregator_restore(Flip(Bit))) =:= ok]),
    ?assertMatch({ok, _}, tally_nif:aggregator_restore(Export)),
    ?assertMatch({ok, _}, 'tally@pure':aggregator_restore(Export)),
    io:format(user, "~n  ~b single-bit flips of a ~b-byte export: all refused by the NIF; 1000 by the Gleam engine~n",
              [Bits, byte_size(Export)]).

%% Ingest and apply run on dirty schedulers: many megabytes through them
%% leave no long schedule on a normal scheduler.
ingest_and_apply_never_block_a_scheduler_test_() ->
    {timeout, 120, fun ingest_and_apply_never_block_a_scheduler/0}.

ingest_and_apply_never_block_a_scheduler() ->
    Chunk = iolist_to_binary([line(integer_to_binary(I), <<"c", (integer_to_binary(I rem 100))/binary>>, I)
                              || I <- lists:seq(1, 8000)]),
    Self = self(),
    _ = erlang:system_monitor(Self, [{long_schedule, 1}]),
    Feeder = spawn_link(fun() ->
                            {ok, A} = tally_nif:aggregator_new(?CONFIG),
                            _ = [begin
                                     {ok, {ingested, Bs, [], _}} = tally_nif:ingest_chunk(json_lines, ?OPTIONS, 4, Chunk),
                                     [{ok, _} = tally_nif:aggregator_apply_batch(A, B) || B <- Bs]
                                 end || _ <- lists:seq(1, 20)],
                            Self ! {fed, self(), tally_nif:aggregator_counters(A)}
                        end),
    Counters = receive {fed, Feeder, C} -> C after 100000 -> error(feeding_timed_out) end,
    _ = erlang:system_monitor(undefined),
    ?assertEqual({ok, {counters, 8000, 8000 * 19, 0}}, Counters),
    %% A NIF on a normal scheduler would show as a long schedule of the
    %% feeder on every round; other processes' (the machine's own load) are
    %% not the NIFs'.
    Long = [L || L = {Pid, _, _} <- flush_long_schedules([]), Pid =:= Feeder],
    ?assertMatch(Few when length(Few) =< ?OS_NOISE, Long).

%% aggregator_take_late is chunked (Scheduler::Chunked): it hands over many
%% late events in slices on a normal scheduler, rescheduling itself between
%% them. 100k events (tens of ms of encoding in one go) give the very list
%% its dirty twin gives in one call, in order; and the caller is scheduled
%% out again and again during the call (traced: `running`), where the dirty
%% twin leaves its normal scheduler once. How long the caller held its
%% scheduler at a time is printed (long schedules over 1 ms), not asserted:
%% on a loaded machine wall time says little. The caller's heap is made big
%% up front: the collections of a list growing to some 30 MB are the
%% caller's cost, not the NIF's.
chunked_take_late_equals_its_dirty_twin_test_() ->
    {timeout, 120, fun chunked_take_late_equals_its_dirty_twin/0}.

chunked_take_late_equals_its_dirty_twin() ->
    N = 100000,
    Late = [{usage_event, <<"late-", (integer_to_binary(I))/binary>>, <<"s">>,
             <<"c", (integer_to_binary(I rem 97))/binary>>, <<"r">>, <<"requests">>, I, ?OCT1 + I}
            || I <- lists:seq(1, N)],
    WithLate = fun() ->
                   {ok, A} = tally_nif:aggregator_new(?CONFIG),
                   {ok, _} = tally_nif:aggregator_close_period(A, <<"2026-10">>, <<"{\"plans\":{}}">>, 1),
                   {ok, {counters, 0, 0, N}} = tally_nif:aggregator_add_events(A, Late),
                   A
               end,
    {A1, A2} = {WithLate(), WithLate()},
    {Chunked, ChunkedOuts, Long} = traced_call(fun() -> tally_nif:aggregator_take_late(A1) end),
    {Dirty, DirtyOuts, _} = traced_call(fun() -> tally_nif:aggregator_take_late_dirty(A2) end),
    io:format(user, "~n  take_late of ~p events: chunked, scheduled out ~p times, ~p long schedules over 1 ms; "
                    "dirty twin, scheduled out ~p times~n", [N, ChunkedOuts, length(Long), DirtyOuts]),
    ?assertEqual({ok, Late}, Chunked),
    ?assertEqual(Chunked, Dirty),
    ?assert(ChunkedOuts >= 10),
    %% Handed over once.
    ?assertEqual({ok, []}, tally_nif:aggregator_take_late(A1)),
    ?assertEqual({ok, []}, tally_nif:aggregator_take_late_dirty(A2)).

%% Runs `Call` in a process of its own (with a big heap), traced for being
%% scheduled in and out and watched for long schedules while it runs;
%% returns its result, how often it was scheduled out during the call, and
%% its long schedules.
traced_call(Call) ->
    Self = self(),
    Pid = spawn_opt(fun() ->
                        receive go -> ok end,
                        R = Call(),
                        Self ! {called, self()},
                        receive send -> Self ! {result, self(), R} end
                    end, [link, {min_heap_size, 8 * 1024 * 1024}]),
    1 = erlang:trace(Pid, true, [running]),
    _ = erlang:system_monitor(Self, [{long_schedule, 1}]),
    Pid ! go,
    receive {called, Pid} -> ok after 100000 -> error(call_timed_out) end,
    _ = erlang:system_monitor(undefined),
    _ = erlang:trace(Pid, false, [running]),
    Pid ! send,
    Result = receive {result, Pid, R} -> R after 100000 -> error(no_result) end,
    Outs = count_outs(Pid, 0),
    Long = [L || L = {P, _, _} <- flush_long_schedules([]), P =:= Pid],
    {Result, Outs, Long}.

count_outs(Pid, N) ->
    receive
        {trace, Pid, out, _} -> count_outs(Pid, N + 1);
        {trace, Pid, in, _} -> count_outs(Pid, N)
    after 0 -> N
    end.
