%% @doc `make bench-job`: the release's whole job (ingest, close, publish to
%% the file sink) beside `tally aggregate` and `tally bill` on the same file.
%%
%%   make bench-job                                  # SIZES=100:10000,100:100000,1000:1000000
%%   SIZES=10:10000 make bench-job                   # a quick one
%%   OUTBOX_LINES=75000                              # the outbox alone, at the end
%%   REISSUE=1                                       # then version 2 of the period, a line more
%%
%% SIZES lists MB:CUSTOMERS pairs: JSON Lines from bench/gen_data.py (four
%% buckets per customer, so KEYS = 4 x CUSTOMERS, events at random times of
%% October 2026), billed with bench/plans_job.json (every customer on one
%% plan of four lines: total per customer and per bucket, 95th percentile,
%% peak per bucket; PLANS=bench/plans_job3.json: three customer-scope lines,
%% #15's close-and-publish goal). SHARDS (default 4) and BACKEND (default nif) configure
%% the job. Each job runs in a VM of its own, with a fresh data directory:
%% peak RSS is that VM's (VmHWM), bytes written its write_bytes from
%% /proc/self/io (the data directory: snapshots, outbox, sink). The last
%% column checks that the job's lines are byte for byte `tally bill`'s.
%% With REISSUE=1 the job then reissues the period as version 2 from the
%% same usage (stopped, its usage state removed, the sources read again,
%% closed again: README "Reissuing"), which reads back every key version 1
%% issued; a line more gives that close's time and peak RSS.
-module(tally_job_bench).

-export([main/0, child/1, data_file/3]).

main() ->
    Sizes = [parse_size(S) || S <- string:lexemes(os:getenv("SIZES", "100:10000,100:100000,1000:1000000"), ",")],
    DataDir = os:getenv("DATA_DIR", "_build/bench/data"),
    ok = filelib:ensure_dir(filename:join(DataDir, "x")),
    %% Where cargo built the command line (CARGO_TARGET_DIR honoured).
    Cli = filename:join([string:trim(os:cmd("scripts/cargo_target_dir.sh")), "release", "tally"]),
    Plans = filename:absname(os:getenv("PLANS", "bench/plans_job.json")),
    io:format("~-6s ~9s ~8s | ~9s ~9s | ~9s ~9s ~9s ~9s ~9s ~9s ~9s | ~8s ~8s | ~s~n",
              ["MB", "customers", "lines", "aggr s", "bill s", "ingest s", "MB/s", "close s", "publish s",
               "job s", "peak RSS", "written", "job/aggr", "bill/aggr", "lines"]),
    [row(Mb, Customers, DataDir, Cli, Plans) || {Mb, Customers} <- Sizes],
    outbox(list_to_integer(os:getenv("OUTBOX_LINES", "75000"))),
    halt(0).

%% The outbox alone: OUTBOX_LINES invoice-sized items (330 bytes) put at
%% once, put again (all waiting: nothing stored), then drained through the
%% publisher into the file sink.
outbox(N) ->
    Dir = string:trim(os:cmd("mktemp -d -t tally-benchoutbox-XXXXXX")),
    Pad = binary:copy(<<"x">>, 250),
    Items = [{item, K, <<"tally.invoices">>, <<"{\"key\":\"", K/binary, "\",\"pad\":\"", Pad/binary, "\"}">>}
             || I <- lists:seq(1, N), K <- [<<"cust-", (integer_to_binary(I))/binary, "/*/m/total/2026-10/v1">>]],
    Bytes = lists:sum([byte_size(P) || {item, _, _, P} <- Items]),
    {ok, {started, _, O}} = 'tally@app@outbox':start(list_to_binary(filename:join(Dir, "outbox"))),
    {Put, {ok, nil}} = timer:tc(fun() -> 'tally@app@outbox':put(O, Items) end),
    {Again, {ok, nil}} = timer:tc(fun() -> 'tally@app@outbox':put(O, Items) end),
    T0 = erlang:monotonic_time(microsecond),
    %% tally/app/publisher.Config(outbox, FileSink(path), batch, registered)
    Config = {config, O, {file_sink, list_to_binary(filename:join(Dir, "invoices.jsonl"))}, 5000, false},
    {ok, _P} = 'tally@app@publisher':start(Config),
    wait_empty(O),
    Drain = erlang:monotonic_time(microsecond) - T0,
    io:format("~noutbox: put ~b lines (~.1f MB) in ~.2f s (~b lines/s); the same put again ~.2f s; "
              "drained to the file sink in ~.2f s (~b lines/s)~n",
              [N, Bytes / 1.0e6, Put / 1.0e6, round(N / (Put / 1.0e6)), Again / 1.0e6, Drain / 1.0e6,
               round(N / (Drain / 1.0e6))]),
    _ = os:cmd("rm -rf " ++ Dir),
    ok.

wait_empty(O) ->
    case 'tally@app@outbox':size(O) of
        0 -> ok;
        _ -> timer:sleep(10), wait_empty(O)
    end.

parse_size(S) ->
    [Mb, C] = string:lexemes(S, ":"),
    {list_to_integer(Mb), list_to_integer(C)}.

row(Mb, Customers, DataDir, Cli, Plans) ->
    File = data_file(Mb, Customers * 4, DataDir),
    Tmp = string:trim(os:cmd("mktemp -d -t tally-benchjob-XXXXXX")),
    {AggS, _} = timed(Cli ++ " aggregate --quiet " ++ File ++ " > /dev/null"),
    BillOut = filename:join(Tmp, "bill.jsonl"),
    {BillS, _} = timed(Cli ++ " bill --quiet --plans " ++ Plans ++ " --period 2026-10 " ++ File ++ " > " ++ BillOut),
    Result = job_in_fresh_vm(File, Plans, filename:join(Tmp, "data")),
    #{ingest_s := IngestS, close_s := CloseS, publish_s := PublishS, peak_rss := Rss, written := Written,
      lines := Lines, ingest_rss := IngestRss, ingest_written := IngestWritten, snapshots := Snapshots,
      vm_rss := VmRss} = Result,
    Same = same_lines(BillOut, filename:join([Tmp, "data", "invoices-v1.jsonl"])),
    JobS = IngestS + CloseS + PublishS,
    io:format("~-6b ~9b ~8b | ~9.2f ~9.2f | ~9.2f ~9.1f ~9.2f ~9.2f ~9.2f ~6b MB ~6b MB | ~7.2fx ~7.2fx | ~s~n",
              [Mb, Customers, Lines, AggS, BillS, IngestS, Mb / max(IngestS, 0.001), CloseS, PublishS, JobS,
               Rss div (1024 * 1024), Written div (1024 * 1024), JobS / AggS, BillS / AggS, Same]),
    io:format("       ingest: peak RSS ~b MB, wrote ~b MB; its state's snapshots ~b MB: "
              "peak/snapshots ~.2fx, written/snapshots ~.2fx; the VM before starting ~b MB, "
              "(peak - it)/snapshots ~.2fx~n",
              [IngestRss div (1024 * 1024), IngestWritten div (1024 * 1024), Snapshots div (1024 * 1024),
               IngestRss / max(Snapshots, 1), IngestWritten / max(Snapshots, 1), VmRss div (1024 * 1024),
               (IngestRss - VmRss) / max(Snapshots, 1)]),
    print_reissue(Result),
    _ = os:cmd("rm -rf " ++ Tmp),
    ok.

print_reissue(#{reissue_ingest_s := IngestS, reissue_close_s := CloseS, reissue_publish_s := PublishS,
                reissue_peak_rss := Rss, reissue_lines := Lines, reissue_voids := Voids}) ->
    io:format("       reissue as version 2: ~b lines, ~b voids; ingest again ~.2f s, close ~.2f s, "
              "publish ~.2f s; peak RSS from the restart on ~b MB~n",
              [Lines, Voids, IngestS, CloseS, PublishS, Rss div (1024 * 1024)]);
print_reissue(_) ->
    ok.

data_file(Mb, Keys, Dir) ->
    File = filename:absname(filename:join(Dir, lists:flatten(io_lib:format("jsonl-~bmb-~bkeys.jsonl", [Mb, Keys])))),
    case filelib:is_regular(File) of
        true -> ok;
        false ->
            ok = filelib:ensure_dir(File),
            _ = os:cmd(lists:flatten(io_lib:format("python3 bench/gen_data.py --format jsonl --mb ~b --keys ~b --out ~s",
                                                   [Mb, Keys, File])))
    end,
    File.

%% Seconds a shell command took.
timed(Cmd) ->
    T0 = erlang:monotonic_time(microsecond),
    Out = os:cmd(Cmd),
    {(erlang:monotonic_time(microsecond) - T0) / 1.0e6, Out}.

same_lines(A, B) ->
    case os:cmd("bash -c 'cmp -s <(LC_ALL=C sort " ++ A ++ ") <(LC_ALL=C sort " ++ B ++ ")' && echo same || echo differ") of
        "same\n" -> "same as tally bill";
        _ -> "DIFFER from tally bill"
    end.

job_in_fresh_vm(File, Plans, DataDir) ->
    Ebins = [filename:dirname(code:which(M)) || M <- ['tally@app@application', ?MODULE]],
    Arg = lists:flatten(io_lib:format("~p", [#{file => File, plans => Plans, data_dir => DataDir,
                                                shards => list_to_integer(os:getenv("SHARDS", "4")),
                                                backend => list_to_atom(os:getenv("BACKEND", "nif"))}])),
    Args = release_vm_flags() ++ lists:append([["-pa", E] || E <- Ebins])
        ++ ["-noshell", "-eval", "tally_job_bench:child(" ++ Arg ++ ")."],
    %% bin/tally's malloc arenas (config/start.sh), unless set here.
    Env = [{"MALLOC_ARENA_MAX", os:getenv("MALLOC_ARENA_MAX", "2")}],
    Vm = open_port({spawn_executable, os:find_executable("erl")},
                   [{args, Args}, {env, Env}, exit_status, stderr_to_stdout]),
    Out = collect(Vm, []),
    case re:run(Out, "RESULT (.*)$", [multiline, {capture, all_but_first, list}]) of
        {match, [Term]} ->
            {ok, Tokens, _} = erl_scan:string(Term ++ "."),
            {ok, Result} = erl_parse:parse_term(Tokens),
            Result;
        nomatch ->
            io:format(standard_error, "the job failed:~n~s~n", [Out]),
            halt(1)
    end.

%% The emulator flags of the release (config/vm.args.src's `+' lines), so
%% that the job's VM is the release's.
release_vm_flags() ->
    {ok, Text} = file:read_file("config/vm.args.src"),
    lists:append([string:lexemes(binary_to_list(L), " ")
                  || L <- binary:split(Text, <<"\n">>, [global]), binary:first(<<L/binary, "#">>) =:= $+]).

collect(Vm, Acc) ->
    receive
        {Vm, {data, Data}} -> collect(Vm, [Data | Acc]);
        {Vm, {exit_status, _}} -> lists:append(lists:reverse(Acc))
    end.

%% In the fresh VM: the application on one JSON Lines source, the job's
%% three steps timed one after the other.
child(#{file := File, plans := Plans, data_dir := DataDir, shards := Shards, backend := Backend}) ->
    logger:set_primary_config(level, error),
    ok = application:load(tally),
    Env = [{data_dir, DataDir}, {backend, Backend}, {shards, Shards}, {plans, Plans}, {bus, none},
           {sources, [#{name => <<"edge">>, format => json_lines, path => File}]}],
    [application:set_env(tally, K, V) || {K, V} <- Env],
    %% The VM alone, before the application starts: a fixed part of every
    %% peak RSS below, whatever the state.
    VmRss = proc_field("status", "VmRSS:\\s*(\\d+) kB") * 1024,
    T0 = now_s(),
    {ok, _} = application:ensure_all_started(tally),
    ok = tally_pipeline:sync(),
    T1 = now_s(),
    %% Ingest's own figures: its peak RSS and bytes written, against the
    %% state it ends with (every shard's snapshot written now: base and log).
    IngestRss = proc_field("status", "VmHWM:\\s*(\\d+) kB") * 1024,
    IngestWritten = proc_field("io", "write_bytes:\\s*(\\d+)"),
    nil = 'tally@app@shard':snapshot_all(Shards),
    Snapshots = lists:sum([filelib:file_size(F) || F <- filelib:wildcard(filename:join([DataDir, "shards", "shard-*.snapshot*"]))]),
    T1b = now_s(),
    {ok, #{lines := Lines}} = tally_pipeline:close_period(<<"2026-10">>),
    T2 = now_s(),
    ok = tally_pipeline:drain(infinity),
    T3 = now_s(),
    PeakRss = proc_field("status", "VmHWM:\\s*(\\d+) kB") * 1024,
    Written = proc_field("io", "write_bytes:\\s*(\\d+)"),
    %% Version 1's lines kept apart: a reissue appends version 2's.
    ok = application:stop(tally),
    ok = file:rename(filename:join(DataDir, "invoices.jsonl"), filename:join(DataDir, "invoices-v1.jsonl")),
    Reissue = case os:getenv("REISSUE") of
                  "1" -> reissue(DataDir);
                  _ -> #{}
              end,
    Result = Reissue#{ingest_s => T1 - T0, close_s => T2 - T1b, publish_s => T3 - T2, lines => Lines,
               ingest_rss => IngestRss, ingest_written => IngestWritten, snapshots => Snapshots,
               vm_rss => VmRss, peak_rss => PeakRss, written => Written},
    io:format("RESULT ~0p~n", [Result]),
    halt(0).

%% README "Reissuing": the usage state removed, version 2 set, the sources
%% read again and the period closed again (the record of keys and the
%% outbox stay). The peak RSS is counted from the restart on.
reissue(DataDir) ->
    _ = os:cmd("rm -rf " ++ filename:join(DataDir, "shards")),
    ok = file:delete(filename:join(DataDir, "closed.term")),
    ok = application:set_env(tally, invoice_version, 2),
    ok = file:write_file("/proc/self/clear_refs", "5"),
    T0 = now_s(),
    {ok, _} = application:ensure_all_started(tally),
    ok = tally_pipeline:sync(),
    T1 = now_s(),
    {ok, #{lines := Lines, voids := Voids}} = tally_pipeline:close_period(<<"2026-10">>),
    T2 = now_s(),
    ok = tally_pipeline:drain(infinity),
    T3 = now_s(),
    #{reissue_ingest_s => T1 - T0, reissue_close_s => T2 - T1, reissue_publish_s => T3 - T2,
      reissue_lines => Lines, reissue_voids => Voids,
      reissue_peak_rss => proc_field("status", "VmHWM:\\s*(\\d+) kB") * 1024}.

now_s() -> erlang:monotonic_time(microsecond) / 1.0e6.

proc_field(File, Re) ->
    {ok, Bin} = file:read_file("/proc/self/" ++ File),
    {match, [N]} = re:run(Bin, Re, [{capture, all_but_first, list}]),
    list_to_integer(N).
