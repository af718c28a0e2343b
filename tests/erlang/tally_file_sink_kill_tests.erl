%% The file sink (tally/app/sink_file) through kills: the publisher killed
%% at random moments while it drains engine batches and single items into
%% invoices.jsonl, the outbox killed and restarted under it now and then,
%% and the same batches put again (a period closed again) meanwhile. The
%% sink checks only the keys that can come again (the file's at open, and
%% those appended but not acknowledged yet): every line must still reach
%% the file exactly once.
-module(tally_file_sink_kill_tests).
-include_lib("eunit/include/eunit.hrl").

-define(BATCHES, 12).
-define(PER_BATCH, 400).
-define(ITEMS, 50).

every_line_once_through_publisher_and_outbox_kills_test_() ->
    {timeout, 300, fun() -> tally_test_support:quiet(fun kills/0) end}.

kills() ->
    Want = ?BATCHES * ?PER_BATCH + ?ITEMS,
    [begin
         Lines = run(Seed),
         ?assertEqual({Seed, Want, Want}, {Seed, length(Lines), length(lists:usort(Lines))})
     end || Seed <- lists:seq(1, 8)].

%% One run: returns the lines of invoices.jsonl.
run(Seed) ->
    _ = rand:seed(exsss, {Seed, Seed, Seed}),
    Trap = process_flag(trap_exit, true),
    Dir = string:trim(os:cmd("mktemp -d -t tally-sink-kill-XXXXXX")),
    OutDir = list_to_binary(Dir ++ "/outbox"),
    Path = list_to_binary(Dir ++ "/invoices.jsonl"),
    Name = tally_file_sink_kill_outbox,
    {ok, _} = 'tally@app@outbox':start_named(OutDir, Name),
    Outbox = 'tally@otp@process':named_subject(Name),
    Batches = [batch(B) || B <- lists:seq(1, ?BATCHES)],
    {ok, nil} = 'tally@app@outbox':put_entries(Outbox, Batches),
    %% Single items too (as voids are): version 2 of some keys.
    {ok, nil} = 'tally@app@outbox':put(Outbox, [{item, <<(key(1, I))/binary, "/v2">>, <<"tally.invoices">>,
                                                 line(key(1, I), 2)} || I <- lists:seq(1, ?ITEMS)]),
    try
        ok = rounds(Outbox, OutDir, Name, Path, Batches, 0),
        {ok, Bin} = file:read_file(Path),
        binary:split(Bin, <<"\n">>, [global, trim_all])
    after
        case whereis(Name) of
            undefined -> ok;
            O -> exit(O, kill), receive {'EXIT', O, _} -> ok after 1000 -> ok end
        end,
        process_flag(trap_exit, Trap)
    end.

%% A publisher per round, killed after a few ms; the outbox killed one round
%% in three, and the batches put again one round in four; until the outbox
%% is empty.
rounds(_, _, _, _, _, 500) ->
    {error, outbox_never_empty};
rounds(Outbox, OutDir, Name, Path, Batches, Round) ->
    {ok, {started, P, _}} = 'tally@app@publisher':start({config, Outbox, {file_sink, Path}, 400, false}),
    timer:sleep(rand:uniform(15)),
    _ = case rand:uniform(3) of
            1 ->
                O = whereis(Name),
                exit(O, kill),
                receive {'EXIT', O, _} -> ok after 1000 -> ok end,
                {ok, _} = 'tally@app@outbox':start_named(OutDir, Name);
            _ ->
                ok
        end,
    _ = case rand:uniform(4) of
            1 -> {ok, nil} = 'tally@app@outbox':put_entries(Outbox, Batches);
            _ -> ok
        end,
    exit(P, kill),
    receive {'EXIT', P, _} -> ok after 1000 -> ok end,
    case 'tally@app@outbox':size(Outbox) of
        0 when Round >= 3 -> ok;
        _ -> rounds(Outbox, OutDir, Name, Path, Batches, Round + 1)
    end.

key(B, I) -> iolist_to_binary(io_lib:format("c~b-~b/*/m/total/2026-10", [B, I])).

line(Key, Version) ->
    <<"{\"key\":\"", Key/binary, "\",\"version\":", (integer_to_binary(Version))/binary, "}">>.

%% An engine batch (aggregate.close_written) of version 1 lines.
batch(B) ->
    Keys = [key(B, I) || I <- lists:seq(1, ?PER_BATCH)],
    Ids = iolist_to_binary([[K, "/v1\n"] || K <- Keys]),
    Lines = iolist_to_binary([[line(K, 1), "\n"] || K <- Keys]),
    {lines, <<"tally.invoices">>, tally_values:written_batch(?PER_BATCH, Ids, Lines)}.
