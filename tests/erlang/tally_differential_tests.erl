%% Differential tests: the same generated inputs, valid and malformed, go
%% to every engine backend, and every answer must be identical: events,
%% rejects and their reasons, stream stats, windows, counters, invoices and
%% export bytes, the restore of damaged exports. Inputs (and the plans
%% each case bills with) are generated from a fixed seed per case, so a
%% failure names the seed and the case is replayed by its number.
-module(tally_differential_tests).
-include_lib("eunit/include/eunit.hrl").

-define(CASES, 120).
-define(OCTOBER, 1790812800000).  % 2026-10-01T00:00:00Z

%% An engine as a function from operation and arguments to its answer.
backends(PortRef) ->
    [{nif, fun(Op, Args) -> apply(tally_nif, Op, Args) end},
     {port, fun(Op, Args) -> port_call(PortRef, Op, Args) end},
     {gleam, fun(Op, Args) -> apply('tally@pure', Op, Args) end}].

%% The port's batches go through tally_port_batch (as tally_engine sends them).
port_call(Ref, ingest_chunk, Args) -> apply(tally_port_batch, ingest_chunk, [Ref | Args]);
port_call(Ref, aggregator_apply_batch, [A, B]) -> tally_port_batch:apply_batch(Ref, A, B);
port_call(Ref, batch_events, [B]) -> tally_port_batch:events(Ref, B);
port_call(Ref, Op, Args) -> tally_port:call(Ref, Op, list_to_tuple(Args)).

every_backend_gives_identical_answers_test_() ->
    {timeout, 300, fun every_backend/0}.

every_backend() ->
    {ok, Ref} = tally_port:start_supervised(#{timeout => 60000}),
    try
        lists:foreach(fun(Format) ->
             Seen = [check_case(Format, Seed, backends(Ref)) || Seed <- lists:seq(1, ?CASES)],
             Events = lists:sum([E || {E, _, _} <- Seen]),
             Kinds = lists:usort(lists:append([K || {_, K, _} <- Seen])),
             Outcomes = lists:usort(lists:append([O || {_, _, O} <- Seen])),
             ?debugFmt("~p: ~b cases, ~b events, rejected for ~p; invoices and restores: ~p",
                       [Format, ?CASES, Events, Kinds, Outcomes]),
             %% The generator reaches both good lines and several kinds of bad
             %% ones, invoices with amounts, refused plans, and damaged exports
             %% refused for several reasons.
             ?assert(Events > ?CASES),
             ?assert(length(Kinds) >= 3),
             ?assert(lists:member(invoice_with_amounts, Outcomes)),
             ?assert(lists:member({billing_failed, plans_invalid}, Outcomes)),
             ?assert(length([R || {bad_export, R} <- Outcomes]) >= 3)
         end, [json_lines, s3_access_log, storage_csv, rgw_usage])
    after
        tally_port:stop(Ref)
    end,
    ok.

check_case(Format, Seed, Backends) ->
    _ = rand:seed(exsss, {Seed, 17, 42}),
    Input = input(Format),
    Options = {parser_options, max_line(), source(), s3_customer(), pick([true, false])},
    Cuts = cuts(byte_size(Input)),
    Config = {aggregator_config, pick([hour, day, month]), pick([true, true, false]),
              [<<"bandwidth_out_bytes">>], [<<"storage_bytes">>],
              pick([[], [<<"requests">>, <<"storage_bytes">>, <<"custom_meter">>]]), pick([172800000, 3600000])},
    Plans = tally_plans_gen:plans(),
    Damage = [export_damage() || _ <- lists:seq(1, 4)],
    Shards = rand:uniform(5),
    Answers = [{Name, answers(Call, Format, Options, Input, Cuts, Plans, Config, Damage)
                      ++ ingest_answers(Name, Call, Format, Options, Shards, Input, Config, Seed rem 12 =:= 1)}
               || {Name, Call} <- Backends],
    [{_, Reference} | Others] = Answers,
    [case Got =:= Reference of
         true -> ok;
         false -> erlang:error({backends_differ, #{format => Format, seed => Seed, backend => Name,
                                                   first_difference => first_difference(Reference, Got),
                                                   input => Input}})
     end || {Name, Got} <- Others],
    {ok, {parsed, Events, Rejects, _}} = proplists:get_value(parse_chunk, Reference),
    %% The batches are the whole input's events partitioned by shard_of, in
    %% order; rejects and counts are parse_chunk's.
    {ok, {parsed, _, _, Stats}} = proplists:get_value(parse_chunk, Reference),
    ?assertEqual({ok, {ingested, Shards, Rejects, Stats}}, proplists:get_value(ingested, Reference)),
    ?assertEqual([{ok, [E || E <- Events, tally_xxh3:hash64(element(4, E)) rem Shards =:= I]}
                  || I <- lists:seq(0, Shards - 1)],
                 proplists:get_value(batch_events, Reference)),
    Outcomes = [invoice_outcome(proplists:get_value(invoice, Reference))
                | [restore_outcome(R) || R <- proplists:get_value(damaged, Reference)]],
    {length(Events), [kind(Why) || {reject, _, _, _, Why, _} <- Rejects], Outcomes}.

%% What a case's invoice and damaged exports came to, to show the generator
%% reaches every kind.
invoice_outcome({ok, {invoice, Lines, _}}) ->
    case [L || L <- Lines, element(tuple_size(L), L) > 0] of  % amount_minor, the last field
        [] -> invoice_without_amounts;
        _ -> invoice_with_amounts
    end;
invoice_outcome({error, {billing_failed, Why}}) -> {billing_failed, element(1, Why)}.

restore_outcome({ok, _}) -> restored;
restore_outcome({error, {aggregate_failed, {bad_export, Reason}}}) -> {bad_export, Reason}.

kind(Why) when is_atom(Why) -> Why;
kind(Why) -> element(1, Why).

%% Everything an engine says about one input.
answers(Call, Format, Options, Input, Cuts, Plans, Config, Damage) ->
    Whole = Call(parse_chunk, [Format, Options, Input]),
    {ok, P} = Call(parser_new, [Format, Options]),
    %% (Bound one by one: the operands of ++ may be evaluated right first,
    %% which finished the parser before feeding it.)
    StreamedChunks = [Call(parser_feed, [P, C]) || C <- chunks(Input, Cuts)],
    Streamed = StreamedChunks ++ [Call(parser_finish, [P])],
    {ok, A} = Call(aggregator_new, [Config]),
    {ok, Q} = Call(parser_new, [Format, Options]),
    FedChunks = [Call(aggregator_feed, [A, Q, C]) || C <- chunks(Input, Cuts)],
    Fed = FedChunks ++ [Call(aggregator_finish, [A, Q])],
    Windows = Call(aggregator_windows, [A]),
    Export = Call(aggregator_export, [A]),
    Invoice = Call(aggregator_close_period, [A, <<"2026-10">>, Plans, 1]),
    Late = Call(aggregator_add_events, [A, late_events()]),
    {ok, Bytes} = Export,
    %% The same usage billed by three shards (each from its own copy):
    %% together they must be the whole invoice, on every engine.
    Shards = [case Call(aggregator_restore, [Bytes]) of
                  {ok, S} -> Call(aggregator_close_shard, [S, <<"2026-10">>, Plans, 1, I, 3]);
                  Error -> Error
              end || I <- [0, 1, 2]],
    ok = shards_make_the_whole(Invoice, Shards),
    %% The same shards in the written form: their lines' bytes are those of
    %% the invoice lines each shard bills (checked against the Erlang twin).
    Written = [case Call(aggregator_restore, [Bytes]) of
                   {ok, S} -> Call(aggregator_close_written, [S, <<"2026-10">>, Plans, 1, I, 3]);
                   Error -> Error
               end || I <- [0, 1, 2]],
    ok = written_as_billed(Shards, Written),
    %% The same shards closed in rounds of a few lines (the budget from the
    %% input, the same on every engine): together each shard's written
    %% invoice, or the rounds before the one that fails and its error.
    Budget = 1 + byte_size(Input) rem 3,
    Rounds = [case Call(aggregator_restore, [Bytes]) of
                  {ok, S} -> rounds(Call, S, Plans, I, none, Budget, []);
                  Error -> [Error]
              end || I <- [0, 1, 2]],
    ok = rounds_as_written(Written, Rounds),
    [{parse_chunk, Whole}, {shards, Shards}, {written, Written}, {rounds, Rounds}, {streamed, Streamed}, {fed, Fed}, {windows, Windows}, {export, Export},
     {invoice, Invoice}, {late, Late}, {closed_export, Call(aggregator_export, [A])},
     {take_late, Call(aggregator_take_late, [A])},
     {restored, reexport(Call, Bytes)},
     {damaged, [reexport(Call, damage_export(D, Bytes)) || D <- Damage]}].

%% A shard's close in rounds, from the first customer to the round whose
%% `next` is none or that fails.
rounds(Call, S, Plans, Shard, From, Budget, Acc) ->
    case Call(aggregator_close_round, [S, <<"2026-10">>, Plans, 1, Shard, 3, From, Budget]) of
        {ok, {written_round, _, _, _, {some, Next}}} = R ->
            rounds(Call, S, Plans, Shard, {some, Next}, Budget, [R | Acc]);
        R ->
            lists:reverse([R | Acc])
    end.

%% A shard's rounds together are its written invoice (its batches' lines,
%% ids and counts, totals, unbilled customers in order); when the written
%% invoice is an error, the last round is that error.
rounds_as_written(Written, Rounds) ->
    lists:foreach(
      fun({{ok, {written_invoice, Batches, Totals, Unbilled}}, Rs}) ->
              Got = [R || {ok, R} <- Rs],
              ?assertEqual(length(Rs), length(Got)),
              ?assertEqual(none, element(5, lists:last(Got))),
              Text = fun(Bs) -> << <<T/binary>> || {written_batch, _, _, T} <- Bs >> end,
              Ids = fun(Bs) -> << <<I/binary>> || {written_batch, _, I, _} <- Bs >> end,
              RoundBatches = lists:append([Bs || {written_round, Bs, _, _, _} <- Got]),
              ?assertEqual(Text(Batches), Text(RoundBatches)),
              ?assertEqual(Ids(Batches), Ids(RoundBatches)),
              ?assertEqual(Totals, lists:append([T || {written_round, _, T, _, _} <- Got])),
              ?assertEqual(Unbilled, lists:append([U || {written_round, _, _, U, _} <- Got]));
         ({Error, Rs}) ->
              ?assertEqual(Error, lists:last(Rs)),
              ?assert(lists:all(fun(R) -> element(1, R) =:= ok end, lists:droplast(Rs)))
      end, lists:zip(Written, Rounds)).

%% Each shard's written invoice holds its invoice's lines, ids and written
%% form in order (tally/pure/written, the Gleam twin of written.rs), and
%% each customer's total; an error is the same error.
written_as_billed(Shards, Written) ->
    lists:foreach(
      fun({{ok, {invoice, Lines, Unbilled}}, {ok, {written_invoice, Batches, Totals, Unbilled2}}}) ->
              Ids = << <<('tally@pure@written':msg_id(L))/binary, "\n">> || L <- Lines >>,
              Text = << <<('tally@pure@written':line_json(L))/binary, "\n">> || L <- Lines >>,
              ?assertEqual(Ids, << <<I/binary>> || {written_batch, _, I, _} <- Batches >>),
              ?assertEqual(Text, << <<T/binary>> || {written_batch, _, _, T} <- Batches >>),
              ?assertEqual(length(Lines), lists:sum([N || {written_batch, N, _, _} <- Batches])),
              ?assert(lists:all(fun({written_batch, N, _, _}) -> N > 0 andalso N =< 5000 end, Batches)),
              ?assertEqual(Unbilled, Unbilled2),
              Want = lists:foldl(
                       fun(L, Acc) ->
                               C = element(3, L), A = element(16, L),
                               maps:update_with(C, fun(#{amount_minor := S, lines := N} = T) ->
                                                           T#{amount_minor := S + A, lines := N + 1}
                                                   end,
                                                #{currency => element(10, L), amount_minor => A, lines => 1}, Acc)
                       end, #{}, Lines),
              ?assertEqual(Want, maps:from_list([{C, #{currency => Cur, amount_minor => A, lines => N}}
                                                 || {customer_total, C, Cur, A, N} <- Totals])),
              ?assertEqual(length(Totals), map_size(Want));
         ({Same, Same}) ->
              ok;
         ({Shard, Other}) ->
              erlang:error({written_differs_from_shard, Shard, Other})
      end, lists:zip(Shards, Written)).

shards_make_the_whole({ok, {invoice, Lines, Unbilled}}, Shards) ->
    Parts = [P || {ok, P} <- Shards],
    Whole = {lists:sort(Lines), lists:sort(Unbilled)},
    case {length(Parts), {lists:sort(lists:append([Ls || {invoice, Ls, _} <- Parts])),
                          lists:sort(lists:append([U || {invoice, _, U} <- Parts]))}} of
        {3, Whole} -> ok;
        _ -> erlang:error({shards_differ_from_the_whole, Whole, Shards})
    end;
shards_make_the_whole({error, Why}, Shards) ->
    %% Refused plans: every shard refuses them; an amount that overflows:
    %% the shard of the first customer it happens to names the same line.
    case lists:member({error, Why}, Shards) of
        true -> ok;
        false -> erlang:error({shards_differ_from_the_whole, {error, Why}, Shards})
    end.

%% The release's path on one input: ingest into Shards batches, each shard
%% applies its own, saves its snapshot and loads it back.
ingest_answers(Name, Call, Format, Options, Shards, Input, Config, SaveAgain) ->
    case Call(ingest_chunk, [Format, Options, Shards, Input]) of
        {ok, {ingested, Batches, Rejects, Stats}} ->
            Events = [Call(batch_events, [B]) || B <- Batches],
            Aggs = [element(2, {ok, _} = Call(aggregator_new, [Config])) || _ <- Batches],
            Applied = [Call(aggregator_apply_batch, [A, B]) || {A, B} <- lists:zip(Aggs, Batches)],
            Exports = [Call(aggregator_export, [A]) || A <- Aggs],
            Dir = filename:join(case os:getenv("TMPDIR") of false -> "/tmp"; D -> D end,
                                "tally-diff-" ++ os:getpid()),
            Path = list_to_binary(filename:join(Dir, atom_to_list(Name) ++ ".snap")),
            ok = filelib:ensure_dir(Path),
            Saved = Call(aggregator_save, [hd(Aggs), Path, <<"positions:", Input/binary>>]),
            {ok, File} = file:read_file(Path),
            Loaded = case Call(aggregator_load, [Path]) of
                         {ok, {loaded, L, Extra}} -> {loaded, Call(aggregator_export, [L]), Extra};
                         Refused -> Refused
                     end,
            %% Damaged files: a byte changed, cut short, a version changed (checksum fixed up).
            Pos = byte_size(File) * 7 div 11,
            <<H:Pos/binary, X, T/binary>> = File,
            <<Magic:8/binary, _:32, AfterVersion/binary>> = File,
            Reversioned = <<Magic/binary, 2:32/little, (binary:part(AfterVersion, 0, byte_size(AfterVersion) - 8))/binary>>,
            Damaged = [<<H/binary, (X bxor 16), T/binary>>, binary:part(File, 0, byte_size(File) div 2),
                       <<Reversioned/binary, (tally_xxh3:hash64(Reversioned)):64/little>>],
            Refusals = [begin ok = file:write_file(Path, D), Call(aggregator_load, [Path]) end || D <- Damaged],
            %% Saved again after more events (a delta, on every engine),
            %% then after a crash cut the last save short: every engine
            %% loads the same state and positions.
            %% One case in twelve (each save syncs files several times).
            Again = SaveAgain andalso saved_again(Call, Path, Config, Events),
            ok = file:delete(Path),
            [{refused_snapshots, Refusals},
             {ingested, {ok, {ingested, length(Batches), Rejects, Stats}}}, {batch_events, Events},
             {applied, Applied}, {shard_exports, Exports}, {saved, Saved}, {snapshot_file, File},
             {loaded, Loaded}, {saved_again, Again}];
        Refused ->
            [{ingested, Refused}]
    end.

%% A shard saved, given the events of every batch in two parts and saved
%% after each (a delta, on every engine: the same bytes written), then
%% loaded. And the same saves written by the NIF, their log cut short
%% (a torn last delta, half the log, the header alone), loaded by this
%% engine: every engine reads the deltas the same.
saved_again(Call, Path, Config, Events) ->
    All = lists:append([E || {ok, E} <- Events]),
    Parts = lists:zip(tuple_to_list(lists:split(length(All) div 2, All)), [<<"half">>, <<"all">>]),
    Save = fun(C, P) ->
                   {ok, Fresh} = C(aggregator_new, [Config]),
                   {ok, _} = C(aggregator_save, [Fresh, P, <<"first">>]),
                   {ok, {loaded, Shard, <<"first">>}} = C(aggregator_load, [P]),
                   [begin
                        {ok, _} = C(aggregator_add_events, [Shard, Part]),
                        %% The same bytes on every engine: a delta or a
                        %% base (by the same rule), of the same size.
                        {ok, Written} = C(aggregator_save, [Shard, P, Tag]),
                        {Written, C(aggregator_export, [Shard])}
                    end || {Part, Tag} <- Parts]
           end,
    Load = fun(P) ->
                   case Call(aggregator_load, [P]) of
                       {ok, {loaded, L, Extra}} -> {loaded, Call(aggregator_export, [L]), Extra};
                       Refused -> Refused
                   end
           end,
    Steps = Save(Call, Path),
    Loaded = Load(Path),
    NifPath = <<Path/binary, "-nif">>,
    _ = Save(fun(Op, Args) -> apply(tally_nif, Op, Args) end, NifPath),
    Log = <<NifPath/binary, ".log">>,
    {ok, LogBytes} = file:read_file(Log),
    Torn = [begin
                ok = file:write_file(Log, binary:part(LogBytes, 0, Cut)),
                Load(NifPath)
            end || Cut <- [byte_size(LogBytes) - 3, byte_size(LogBytes) div 2, 20, byte_size(LogBytes)]],
    _ = [file:delete(F) || F <- [NifPath, Log, <<Path/binary, ".log">>]],
    [{steps, Steps}, {loaded, Loaded}, {torn, Torn}].

%% An export read back and written again (the same bytes, if it was one),
%% or the reason it was refused.
reexport(Call, Bytes) ->
    case Call(aggregator_restore, [Bytes]) of
        {ok, R} -> Call(aggregator_export, [R]);
        Refused -> Refused
    end.

%% Damage chosen before the export exists: where (as a fraction of its size) and how.
export_damage() ->
    {pick([truncate, flip, flip, append]), rand:uniform(), rand:uniform(255)}.

damage_export({truncate, At, _}, Bytes) -> binary:part(Bytes, 0, trunc(At * byte_size(Bytes)));
damage_export({flip, At, X}, Bytes) ->
    Pos = min(trunc(At * byte_size(Bytes)), byte_size(Bytes) - 1),
    <<Head:Pos/binary, B, Tail/binary>> = Bytes,
    <<Head/binary, (B bxor X), Tail/binary>>;
damage_export({append, _, X}, Bytes) -> <<Bytes/binary, X>>.

first_difference([{K, A} | _], [{K, B} | _]) when A =/= B -> {K, A, B};
first_difference([_ | R1], [_ | R2]) -> first_difference(R1, R2);
first_difference(_, _) -> none.

late_events() ->
    [{usage_event, <<"late-1">>, <<"s">>, <<"acme">>, <<"r">>, <<"requests">>, 1, 1790812800000 + 3600000}].

%% Merging: the events of a generated input split in two aggregators (by
%% event number, so disjoint), one of them with a closed period and late
%% events, merged: the merged export must be the NIF's, byte for byte, on
%% the Gleam engine; merging again overlaps, and the error must be the
%% NIF's too. Then each engine merges the other's export.
the_gleam_merge_agrees_test() ->
    Merged = [begin
         _ = rand:seed(exsss, {Seed, 5, 5}),
         Format = pick([json_lines, s3_access_log, storage_csv]),
         Config = {aggregator_config, pick([hour, day]), true, [<<"bandwidth_out_bytes">>], [<<"storage_bytes">>],
                   pick([[], [<<"requests">>]]), 172800000},
         Options = {parser_options, 1048576, none, bucket_owner, true},
         {ok, {parsed, Events, _, _}} = tally_nif:parse_chunk(Format, Options, input(Format)),
         {Odd, Even} = lists:partition(fun({I, _}) -> I rem 2 =:= 1 end, lists:zip(lists:seq(1, length(Events)), Events)),
         Close = maybe(0.5),
         Run = fun(M) ->
                   {ok, A} = M:aggregator_new(Config), {ok, B} = M:aggregator_new(Config),
                   {ok, _} = M:aggregator_add_events(A, [E || {_, E} <- Odd]),
                   {ok, _} = M:aggregator_add_events(B, [E || {_, E} <- Even]),
                   %% B closes September, then is sent A's September events: late in B.
                   case Close of
                       true ->
                           ?assertMatch({ok, _},
                                        M:aggregator_close_period(B, <<"2026-09">>, <<"{\"plans\":{}}">>, 1)),
                           ?assertMatch({ok, _},
                                        M:aggregator_add_events(B, [E || {_, E} <- Odd, element(8, E) < ?OCTOBER]));
                       false ->
                           ok
                   end,
                   First = M:aggregator_merge(A, B),
                   {First, M:aggregator_export(A), M:aggregator_merge(A, B), A}
               end,
         {N1, NifExport, N2, NifAgg} = Run(tally_nif),
         {G1, GleamExport, G2, GleamAgg} = Run('tally@pure'),
         ?assertEqual({Seed, {N1, NifExport, N2}}, {Seed, {G1, GleamExport, G2}}),
         %% Across engines: each restores the other's export and gets its own bytes back.
         {ok, Bytes} = NifExport,
         {ok, FromNif} = 'tally@pure':aggregator_restore(Bytes),
         {ok, FromGleam} = tally_nif:aggregator_restore(element(2, GleamExport)),
         ?assertEqual(NifExport, 'tally@pure':aggregator_export(FromNif)),
         ?assertEqual(GleamExport, tally_nif:aggregator_export(FromGleam)),
         _ = {NifAgg, GleamAgg},
         N1
     end || Seed <- lists:seq(1, 60)],
    %% (Ids repeat across the halves in some inputs: those merges overlap.)
    ?assert(length([ok || {ok, nil} <- Merged]) >= 10),
    ok.

%% Regression: with overlaps in two periods the Rust engine named whichever
%% its hash map gave first, the Gleam engine the earliest. Both name the
%% earliest now.
merge_overlapping_in_two_periods_names_the_earliest_test() ->
    Config = {aggregator_config, hour, true, [], [], [], 172800000},
    Ev = fun(Id, Ms) -> {usage_event, Id, <<"s">>, <<"acme">>, <<"r">>, <<"requests">>, 1, Ms} end,
    Events = [Ev(<<"a">>, 1790812800000), Ev(<<"b">>, 1790812800000 - 86400000), Ev(<<"c">>, 1793491200000)],
    Each = fun(New, Add, Merge) ->
               {ok, A} = New(Config), {ok, B} = New(Config),
               {ok, _} = Add(A, Events), {ok, _} = Add(B, Events),
               Merge(A, B)
           end,
    Want = {error, {aggregate_failed, {overlap, <<"2026-09">>, 1}}},
    ?assertEqual(Want, Each(fun tally_nif:aggregator_new/1, fun tally_nif:aggregator_add_events/2,
                            fun tally_nif:aggregator_merge/2)),
    ?assertEqual(Want, Each(fun 'tally@pure':aggregator_new/1, fun 'tally@pure':aggregator_add_events/2,
                            fun 'tally@pure':aggregator_merge/2)).

%% Regression: a gauge gap cap below zero made the Rust engine panic
%% (i64::clamp with min > max) when billing GB-months; a sample now lasts 0
%% under such a cap, in both engines.
negative_gauge_gap_cap_bills_zero_test() ->
    Config = {aggregator_config, hour, true, [], [<<"storage_bytes">>], [], -5},
    Event = {usage_event, <<"e">>, <<"s">>, <<"acme">>, <<"r">>, <<"storage_bytes">>, 100, 1790812800000},
    Plans = <<"{\"plans\":{\"p\":{\"currency\":\"EUR\",\"lines\":[{\"meter\":\"storage_bytes\","
              "\"measure\":\"gb_month_average\",\"unit\":\"GB\",\"pricing\":{\"model\":\"flat\","
              "\"unit_price\":\"1\"}}]}},\"default_plan\":\"p\"}">>,
    [Nif, Gleam] = [begin
                        {ok, A} = M:aggregator_new(Config),
                        {ok, _} = M:aggregator_add_events(A, [Event]),
                        M:aggregator_close_period(A, <<"2026-10">>, Plans, 1)
                    end || M <- [tally_nif, 'tally@pure']],
    ?assertMatch({ok, {invoice, [_], []}}, Nif),
    ?assertEqual(Nif, Gleam).

%% Plans files of the wrong shape, or not JSON: every engine refuses them
%% as invalid plans (the wording is each engine's own) and leaves the
%% period open.
malformed_plans_are_refused_by_every_engine_test() ->
    Config = {aggregator_config, hour, true, [], [], [], 172800000},
    Event = {usage_event, <<"e">>, <<"s">>, <<"acme">>, <<"r">>, <<"requests">>, 1, 1790812800000},
    _ = [[begin
          {ok, A} = New(Config),
          ?assertMatch({Doc, {error, {billing_failed, {plans_invalid, <<"plans file: ", _/binary>>}}}},
                       {Doc, Close(A, <<"2026-10">>, Doc, 1)}),
          ?assertMatch({ok, {counters, 1, 0, 0}}, Add(A, [Event]))
      end || Doc <- tally_plans_gen:malformed()]
     || {New, Close, Add} <- [{fun tally_nif:aggregator_new/1, fun tally_nif:aggregator_close_period/4,
                               fun tally_nif:aggregator_add_events/2},
                              {fun 'tally@pure':aggregator_new/1, fun 'tally@pure':aggregator_close_period/4,
                               fun 'tally@pure':aggregator_add_events/2}]],
    ok.

%% Issue 16, item 4: a plans file that defines a plan twice (serde kept the
%% second silently), or repeats a key anywhere, is refused with the same
%% words by every engine, and the period stays open.
a_repeated_key_refuses_the_plans_file_test() ->
    Config = {aggregator_config, hour, true, [], [], [], 172800000},
    Event = {usage_event, <<"e">>, <<"s">>, <<"acme">>, <<"r">>, <<"requests">>, 1, 1790812800000},
    Plan = fun(Price) -> <<"{\"currency\":\"EUR\",\"lines\":[{\"meter\":\"requests\",\"measure\":\"total\","
                            "\"pricing\":{\"model\":\"flat\",\"unit_price\":\"", Price/binary, "\"}}]}">> end,
    Docs = [{<<"{\"plans\":{\"p\":", (Plan(<<"1">>))/binary, ",\"p\":", (Plan(<<"0">>))/binary, "},\"default_plan\":\"p\"}">>,
             <<"plans file: duplicate key \"p\" in /plans">>},
            {<<"{\"plans\":{\"p\":", (Plan(<<"1">>))/binary, "},\"customers\":{\"acme\":\"p\",\"acme\":\"q\"}}">>,
             <<"plans file: duplicate key \"acme\" in /customers">>},
            {<<"{\"plans\":{\"a/b\":{\"currency\":\"EUR\",\"currency\":\"USD\",\"lines\":[]}}}">>,
             <<"plans file: duplicate key \"currency\" in /plans/a~1b">>},
            {<<"{\"default_plan\":\"p\",\"plans\":{},\"default_plan\":\"q\"}">>,
             <<"plans file: duplicate key \"default_plan\" at the top level">>}],
    _ = [[begin
          {ok, A} = M:aggregator_new(Config),
          ?assertEqual({M, {error, {billing_failed, {plans_invalid, Why}}}},
                       {M, M:aggregator_close_period(A, <<"2026-10">>, Doc, 1)}),
          ?assertMatch({ok, {counters, 1, 0, 0}}, M:aggregator_add_events(A, [Event]))
      end || {Doc, Why} <- Docs]
     || M <- [tally_nif, 'tally@pure']],
    ok.

%% Issue 21: keys are unique by construction on every engine (each part
%% percent-encoded, no version in the key), and a plans file whose lines
%% would share a key is refused with the same words.
invoice_keys_are_unique_on_every_engine_test() ->
    Config = {aggregator_config, hour, true, [], [], [], 172800000},
    T = 1790812800000,
    Events = [{usage_event, <<"1">>, <<"s">>, <<"a/b">>, <<"c">>, <<"requests">>, 10, T},
              {usage_event, <<"2">>, <<"s">>, <<"a">>, <<"b/c">>, <<"requests">>, 5, T},
              {usage_event, <<"3">>, <<"s">>, <<"a">>, <<"*">>, <<"requests">>, 7, T},
              {usage_event, <<"4">>, <<"s">>, <<"a">>, <<"50% off\n"/utf8>>, <<"requests">>, 1, T}],
    Line = fun(Scope, Price) -> <<"{\"meter\":\"requests\",\"measure\":\"total\",\"scope\":\"", Scope/binary,
                                  "\",\"pricing\":{\"model\":\"flat\",\"unit_price\":\"", Price/binary, "\"}}">> end,
    Plans = fun(Lines) -> <<"{\"plans\":{\"p\":{\"currency\":\"EUR\",\"lines\":[", Lines/binary, "]}},\"default_plan\":\"p\"}">> end,
    Good = Plans(<<(Line(<<"resource">>, <<"1">>))/binary, ",", (Line(<<"customer">>, <<"2">>))/binary>>),
    Bad = Plans(<<(Line(<<"resource">>, <<"1">>))/binary, ",", (Line(<<"resource">>, <<"2">>))/binary>>),
    Close = fun(M, Doc) ->
                    {ok, A} = M:aggregator_new(Config),
                    {ok, _} = M:aggregator_add_events(A, Events),
                    M:aggregator_close_period(A, <<"2026-10">>, Doc, 2)
            end,
    [{ok, {invoice, NifLines, []}}, {ok, {invoice, GleamLines, []}}] =
        [Close(M, Good) || M <- [tally_nif, 'tally@pure']],
    ?assertEqual(NifLines, GleamLines),
    ?assertEqual([<<"a/%2A/requests/total/2026-10">>, <<"a/50%25%20off%0A/requests/total/2026-10">>,
                  <<"a/b%2Fc/requests/total/2026-10">>, <<"a/*/requests/total/2026-10">>,
                  <<"a%2Fb/c/requests/total/2026-10">>, <<"a%2Fb/*/requests/total/2026-10">>],
                 [element(2, L) || L <- NifLines]),
    Why = <<"plan p, line 2: same meter, measure and scope as line 1: their invoice lines would share a key">>,
    [?assertEqual({M, {error, {billing_failed, {plans_invalid, Why}}}}, {M, Close(M, Bad)})
     || M <- [tally_nif, 'tally@pure']],
    ok.

%% Issue 16, item 3: a valid event, 1 MiB of X with an event for `victim`
%% glued to its end, another valid event. On every engine, whole, streamed in
%% chunks cut anywhere and fed to an aggregator: the long line is rejected
%% whole and `victim` is never read.
an_over_long_line_smuggles_no_event_test_() ->
    {timeout, 120, fun an_over_long_line_smuggles_no_event/0}.

an_over_long_line_smuggles_no_event() ->
    Event = fun(Id, Who) ->
                <<"{\"id\":\"", Id/binary, "\",\"source\":\"/e\",\"subject\":\"", Who/binary,
                  "\",\"time\":\"2026-10-01T00:00:00Z\",\"data\":{\"resource\":\"r\",\"meter\":\"requests\",\"value\":1}}">>
            end,
    Victim = Event(<<"v">>, <<"victim">>),
    Head = <<(Event(<<"a">>, <<"alice">>))/binary, "\n">>,
    Input = <<Head/binary, (binary:copy(<<"X">>, 1 bsl 20))/binary, Victim/binary, "\n",
              (Event(<<"b">>, <<"bob">>))/binary, "\n">>,
    Start = byte_size(Head), Limit = Start + (1 bsl 20), End = Limit + byte_size(Victim),
    Long = (1 bsl 20) + byte_size(Victim),
    Options = {parser_options, 1048576, none, bucket_owner, true},
    Config = {aggregator_config, hour, true, [], [], [], 172800000},
    {ok, Ref} = tally_port:start_supervised(#{timeout => 60000}),
    try
        Answers =
            [begin
                 {ok, {parsed, Events, Rejects, _}} = Call(parse_chunk, [json_lines, Options, Input]),
                 ?assertEqual([<<"alice">>, <<"bob">>], [element(4, E) || E <- Events]),
                 ?assertMatch([{reject, json_lines, 2, Start, {line_too_long, Long, 1048576}, _}], Rejects),
                 Streamed =
                     [begin
                          {ok, P} = Call(parser_new, [json_lines, Options]),
                          Fed = [Call(parser_feed, [P, C]) || C <- chunks(Input, Cuts)],
                          Last = Call(parser_finish, [P]),
                          Got = lists:append([Es || {ok, {parsed, Es, _, _}} <- Fed ++ [Last]]),
                          ?assertEqual({Name, Cuts, [<<"alice">>, <<"bob">>]},
                                       {Name, Cuts, [element(4, E) || E <- Got]}),
                          {ok, A} = Call(aggregator_new, [Config]),
                          {ok, Q} = Call(parser_new, [json_lines, Options]),
                          _ = [Call(aggregator_feed, [A, Q, C]) || C <- chunks(Input, Cuts)],
                          _ = Call(aggregator_finish, [A, Q]),
                          {ok, Windows} = Call(aggregator_windows, [A]),
                          Customers = lists:usort([element(2, W) || W <- Windows]),
                          ?assertEqual({Name, Cuts, [<<"alice">>, <<"bob">>]}, {Name, Cuts, Customers}),
                          {Fed, Last, Windows}
                      end || Cuts <- [[Start, Limit, End], [Limit - 1, Limit + 1], [Limit + 30, End - 1],
                                      [Start + 1, Start + 4097, End + 1], [End]]],
                 {Events, Rejects, Streamed}
             end || {Name, Call} <- backends(Ref)],
        [Nif | Others] = Answers,
        [?assertEqual(Nif, Other) || Other <- Others]
    after
        tally_port:stop(Ref)
    end.

%% Single lines mutated at random (cut, a byte changed, a byte inserted):
%% every error path of the JSON scanner, parsed by the NIF and by Gleam.
the_gleam_json_lines_parser_agrees_line_by_line_test() ->
    _ = rand:seed(exsss, {7, 7, 7}),
    Good = [<<"{\"specversion\":\"1.0\",\"id\":\"e1\",\"source\":\"/edge/fra1\",\"subject\":\"acme\","
              "\"time\":\"2026-10-01T12:00:00.123+02:00\",\"data\":{\"resource\":\"b\\u00e9\\ud83d\\ude00\","
              "\"meter\":\"bandwidth_out_bytes\",\"value\":1024,\"x\":[1,-2.5e3,true,null,{\"y\":\"\\n\"}]}}">>,
            <<"{\"id\":\"e2\",\"source\":\"s\",\"subject\":\"c\",\"time\":\"1990-12-31T23:59:60Z\","
              "\"data\":{\"resource\":\"r\",\"meter\":\"m\",\"value\":9223372036854775807}}">>],
    Results = [begin
                   Line = mutate(pick(Good)),
                   Nif = tally_nif:parse_event_line(Line),
                   ?assertEqual({Line, Nif}, {Line, 'tally@pure':parse_event_line(Line)}),
                   case Nif of {ok, {ok, _}} -> ok; {ok, {error, Why}} -> kind(Why) end
               end || _ <- lists:seq(1, 3000)],
    Kinds = lists:usort(Results),
    ?debugFmt("3000 mutated lines: ~p", [Kinds]),
    ?assert(length(Kinds) >= 6).

mutate(Line) ->
    N = byte_size(Line),
    At = rand:uniform(N) - 1,
    <<Before:At/binary, C, After/binary>> = Line,
    Byte = pick([$", $\\, ${, $}, $[, $], $,, $:, $-, $0, $9, $., $e, $u, $\s, 0, 16#ff, 16#c3, $x]),
    case rand:uniform(4) of
        1 -> Before;
        2 -> <<Before/binary, Byte, After/binary>>;
        3 -> <<Before/binary, Byte, C, After/binary>>;
        4 -> <<Before/binary, After/binary>>
    end.

%%% Generated inputs

pick(List) -> lists:nth(rand:uniform(length(List)), List).
maybe(P) -> rand:uniform() < P.

max_line() -> pick([1048576, 1048576, 1048576, 200]).
source() -> pick([none, {some, <<"edge">>}]).
s3_customer() -> pick([bucket_owner, requester]).

%% Up to six cut points anywhere, in order.
cuts(Size) -> lists:usort([rand:uniform(Size + 1) - 1 || _ <- lists:seq(1, rand:uniform(6))]).

chunks(Input, Cuts) ->
    Points = [0] ++ Cuts ++ [byte_size(Input)],
    [binary:part(Input, A, B - A) || {A, B} <- lists:zip(lists:droplast(Points), tl(Points))].

input(Format) ->
    N = rand:uniform(40),
    Body = iolist_to_binary([line(Format, I) || I <- lists:seq(1, N)]),
    Input = case Format of
                storage_csv -> <<(csv_header())/binary, Body/binary>>;
                rgw_usage -> rgw_doc(N);
                _ -> Body
            end,
    damage(Input).

%% Sometimes cut the input short, or drop its last newline.
damage(Input) ->
    case rand:uniform(10) of
        1 when byte_size(Input) > 2 -> binary:part(Input, 0, rand:uniform(byte_size(Input) - 1));
        2 -> string:trim(Input, trailing, "\n");
        _ -> Input
    end.

customer() -> pick([<<"acme">>, <<"globex">>, <<"ünïcødé 客户"/utf8>>, <<"a\\\"q">>, <<"initech">>]).
meter() -> pick([<<"bandwidth_out_bytes">>, <<"requests">>, <<"storage_bytes">>, <<"custom_meter">>]).
id() -> integer_to_binary(rand:uniform(25)).  % small range: duplicate ids
time_ms() -> 1790812800000 + rand:uniform(31 * 86400) * 1000 - pick([0, 0, 0, 40 * 86400000]).

rfc3339(Ms) ->
    Offset = pick([<<"Z">>, <<"+02:00">>, <<"-05:30">>]),
    Shift = case Offset of <<"Z">> -> 0; <<"+02:00">> -> 7200; <<"-05:30">> -> -19800 end,
    {{Y, Mo, D}, {H, Mi, S}} = calendar:system_time_to_universal_time(Ms div 1000 + Shift, second),
    iolist_to_binary([io_lib:format("~4..0b-~2..0b-~2..0bT~2..0b:~2..0b:~2..0b", [Y, Mo, D, H, Mi, S]), Offset]).

value() ->
    pick([integer_to_binary(rand:uniform(1000000)), <<"0">>, <<"-1">>, <<"1.5">>, <<"\"12\"">>, <<"1e3">>,
          <<"18446744073709551615">>, <<"18446744073709551616">>, <<"99999999999999999999999">>]).

line(json_lines, _I) ->
    case rand:uniform(15) of
        1 -> <<"\n">>;
        2 -> <<"{\"id\": \"x\", \"subject\": \"acme\", truncated\n">>;
        3 -> <<"[1,2,3]\n">>;
        4 -> <<"{\"id\":\"bad-utf8\",\"source\":\"s\",\"subject\":\"", 16#ff, "\"}\n">>;
        5 -> <<"{\"id\":\"e\",\"source\":\"s\",\"subject\":\"c\",\"time\":\"not a time\",\"data\":{\"resource\":\"r\",\"meter\":\"m\",\"value\":1}}\n">>;
        %% Repeated keys, read by tally or not, at the top level and in data.
        6 -> pick([<<"{\"id\":\"d1\",\"source\":\"/e\",\"subject\":\"c\",\"subject\":\"EVIL\",\"time\":\"2026-10-02T00:00:00Z\",\"data\":{\"resource\":\"r\",\"meter\":\"requests\",\"value\":1}}\n">>,
                   <<"{\"id\":\"d2\",\"source\":\"/e\",\"subject\":\"c\",\"time\":\"2026-10-02T00:00:00Z\",\"data\":{\"resource\":\"r\",\"meter\":\"requests\",\"value\":1,\"v\\u0061lue\":900}}\n">>,
                   <<"{\"x\":1,\"id\":\"d3\",\"source\":\"/e\",\"subject\":\"c\",\"time\":\"2026-10-02T00:00:00Z\",\"x\":[],\"data\":{\"resource\":\"r\",\"meter\":\"requests\",\"value\":1}}\n">>]);
        _ ->
            Extra = case maybe(0.3) of true -> <<",\"type\":\"com.x\",\"ext\":{\"a\":[1,{\"b\":null}]}">>; false -> <<>> end,
            iolist_to_binary(["{\"id\":\"", id(), "\",\"source\":\"", pick([<<"/edge/fra1">>, <<"/edge/ams1">>]),
                              "\",\"subject\":\"", customer(), "\",\"time\":\"", rfc3339(time_ms()), "\"", Extra,
                              ",\"data\":{\"resource\":\"", pick([<<"cdn">>, <<"bucket\\u00e9">>]), "\",\"meter\":\"",
                              meter(), "\",\"value\":", value(), "}}\n"])
    end;
line(s3_access_log, I) ->
    Owner = pick([<<"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be">>, <<"owner2">>]),
    {{Y, Mo, D}, {H, Mi, S}} = calendar:system_time_to_universal_time(time_ms() div 1000, second),
    Month = lists:nth(Mo, ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]),
    Time = case maybe(0.05) of
               true -> <<"[not a time]">>;
               false -> iolist_to_binary(io_lib:format("[~2..0b/~s/~4..0b:~2..0b:~2..0b:~2..0b +0000]", [D, Month, Y, H, Mi, S]))
           end,
    case rand:uniform(17) of
        1 -> <<"too few fields\n">>;
        2 -> <<"\n">>;
        3 -> <<"o b [06/Feb/2019:00:00:38 +0000 x\n">>;
        4 -> <<"o b [06/Feb/2019:00:00:38 +0000] \"GET /x \\\" y\n">>;
        5 -> iolist_to_binary([lists:join(" ", lists:duplicate(41, "f")), "\n"]);
        6 -> <<"o b [06/Feb/2019:00:00:38 +0000] 1 - - REST.PUT.PART k \"u\" 200 - 5 7 1 1 \"-\" \"ua\"\n">>;
        %% Quotes S3 writes unescaped inside the quoted fields (the first is
        %% the line handed over in issue 17), and quoted fields cut short.
        7 -> pick([<<"owner1 bucket1 [20/Jun/2019:03:51:36 +0000] 192.0.2.4 - 63DAF67A2BC0B6C3 REST.GET.OBJECT %2522 \"GET /\" HTTP/1.1\" 403 AccessDenied 243 - 8 - \"-\" \"curl/7.38.0\" -\n">>,
                   <<"o b [06/Feb/2019:00:00:38 +0000] 1 Anonymous R7 REST.GET.OBJECT k \"GET /a\" 200 b\" 200 - 5 - 1 1 \"http://x/\"q\"\" \"ua \"v\" 1\" - host\n">>,
                   <<"o b [06/Feb/2019:00:00:38 +0000] 1 - R8 REST.GET.OBJECT k \"GET /k HTTP/1.1\" OK - 5 - 1 1 \"-\" \"ua\"\n">>,
                   <<"o b [06/Feb/2019:00:00:38 +0000] 1 - R9 REST.GET.OBJECT k \"GET /k HTTP/1.1\" 200 - 5 - 1 1 \"-\n">>,
                   <<"o b [06/Feb/2019:00:00:38 +0000] 1 - R9 REST.GET.OBJECT k \"GET /k HTTP/1.1\" 200 - 5 - 1 1 \"-\" \"ua\"x -\n">>,
                   <<"o b", 16#ff, " [06/Feb/2019:00:00:38 +0000] 1 - R9 REST.GET.OBJECT k - 200 - 5 - 1 1 - -\n">>,
                   <<"o b [06/Feb/2019:00:00:38 +0000] 1 - R9 REST.GET.OBJECT k \"GET /k HTTP/1.1\" 200\n">>]);
        _ ->
            Sent = pick([integer_to_binary(rand:uniform(100000000)), <<"-">>, <<"x12">>, <<"99999999999999999999999">>]),
            Req = pick([<<"REQ", (integer_to_binary(rand:uniform(30)))/binary>>, <<"-">>]),
            iolist_to_binary([Owner, " ", pick([<<"bucket-a">>, <<"bucket-b">>]), " ", Time, " 192.0.2.1 ",
                              pick([Owner, <<"-">>, <<"arn:aws:iam::123:user/x">>]), " ", Req, " ",
                              pick([<<"REST.GET.OBJECT">>, <<"REST.PUT.OBJECT">>, <<"REST.HEAD.OBJECT">>]),
                              " key/", integer_to_binary(I), " \"GET /bucket-a/key HTTP/1.1\" 200 - ", Sent, " ",
                              pick([<<"-">>, integer_to_binary(rand:uniform(5000))]), " 10 2 \"-\" \"",
                              pick([<<"curl/8.4.0">>, <<"Mozilla/5.0 (X11; Linux x86_64) \\\"quoted\\\"">>]),
                              "\" - hostid= SigV4\n"])
    end;
line(storage_csv, _I) ->
    case rand:uniform(16) of
        1 -> <<"\n">>;
        2 -> <<"2026-10-04T00:00:00Z,acme,b,lots\n">>;
        3 -> <<"only,three,fields\n">>;
        4 -> <<"1790812800, acme\x{a0} ,\"b,1\",  12  \r\n"/utf8>>;
        5 -> <<"\"2026-10-01T00:00:00Z\"x,acme,b,1\n">>;
        6 -> <<"1790812800,", 16#ff, "bad,b,1\n">>;
        7 -> <<"1790812800,,b,1\n">>;
        8 -> <<"179081280000000,acme,b,99999999999999999999\n">>;
        _ ->
            iolist_to_binary([rfc3339(time_ms()), ",", pick([<<"acme">>, <<"\"Globex, Inc.\"">>, <<"\"say \"\"hi\"\"\"">>]),
                              ",", pick([<<"b1">>, <<"b2">>]), ",", pick([integer_to_binary(rand:uniform(1 bsl 40)), <<"-5">>]), "\n"])
    end;
line(rgw_usage, _I) ->
    <<>>.

csv_header() ->
    pick([<<"timestamp,customer,bucket,bytes\n">>, <<"bytes,bucket,customer,timestamp\n">>, <<"time,who\n">>,
          <<" Timestamp ,CUSTOMER,\"bucket\",bytes,extra\r\n">>, <<"\n\"unclosed,header\n">>,
          %% A byte-order mark (spreadsheets' "CSV UTF-8"), and a column named twice.
          <<16#EF, 16#BB, 16#BF, "timestamp,bucket,customer,bytes\n">>, <<16#EF, 16#BB, 16#BF, "\n">>,
          <<"timestamp,customer,bucket,bytes,customer\n">>]).

rgw_doc(N) ->
    User = customer(),
    Good = integer_to_binary(rand:uniform(1000000)),
    Buckets = [iolist_to_binary(
                 ["{\"bucket\":\"", pick([<<"photos">>, <<"">>, <<"-">>, <<"b\\u00e9">>]), "\",\"time\":\"",
                  %% (epoch is 10:00: a time that disagrees, or is not one, is refused)
                  pick([<<"2026-10-01 10:00:00.000000Z">>, <<"2026-10-01 10:00:00.000000Z">>,
                        <<"2026-10-01 10:00:00.000000Z">>, <<"2026-10-01 10:00:00.000000Z">>,
                        <<"2026-10-02 11:00:00.000000Z">>, <<"bad">>]),
                  "\",\"epoch\":1790848800,\"owner\":\"", pick([User, User, User, <<"johndoe">>]), "\",",
                  pick([<<>>, <<>>, <<>>, [<<"\"payer\":\"">>, pick([User, <<"payer2">>]), <<"\",">>],
                        <<"\"owner\":\"x\",">>, <<"\"e\":1,\"e\":1,">>]),
                  "\"categories\":[",
                  lists:join(",", [iolist_to_binary(["{\"category\":\"", pick([<<"get_obj">>, <<"put_obj">>]),
                                                     "\",\"bytes_sent\":", pick([Good, Good, Good, value()]),
                                                     ",\"bytes_received\":", integer_to_binary(rand:uniform(1000)),
                                                     ",\"ops\":3,\"successful_ops\":",
                                                     pick([<<"3">>, <<"3">>, <<"3">>, <<"\"x\"">>]), "}"])
                                   || _ <- lists:seq(1, rand:uniform(3))]),
                  "]}"]) || _ <- lists:seq(1, min(N, 8))],
    Summary = ["\"summary\":[{\"user\":\"", User, "\",\"categories\":[],\"total\":{\"bytes_sent\":1,",
               "\"bytes_received\":0,\"ops\":1,\"successful_ops\":1}}]"],
    case rand:uniform(9) of
        %% --show-log-entries=false: a summary only, refused (issue 17).
        1 -> iolist_to_binary(["{", Summary, "}\n"]);
        %% A user section without buckets, then one with them.
        2 -> iolist_to_binary(["{\"entries\":[{\"user\":\"", User, "\"},{\"user\":\"", User, "\",\"buckets\":[",
                               lists:join(",", Buckets), "]}],", Summary, "}\n"]);
        %% A section naming its user twice.
        3 -> iolist_to_binary(["{\"entries\":[{\"user\":\"", User, "\",\"user\":\"", User, "\",\"buckets\":[",
                               lists:join(",", Buckets), "]}],\"summary\":[]}\n"]);
        _ -> iolist_to_binary(["{\"entries\":[{\"user\":\"", User, "\",\"buckets\":[", lists:join(",", Buckets),
                               "]}],\"summary\":[]}\n"])
    end.
