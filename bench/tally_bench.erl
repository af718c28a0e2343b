%% The BEAM benchmark (`make bench`): parse plus aggregate of the same data,
%% in one run, through every backend (and shadow mode: NIF primary, port
%% secondary, every answer compared) and the peer a BEAM team would use
%% today (jiffy, a C NIF, decoding the JSON; aggregation in ETS), at three
%% data sizes and three key counts. For each run it prints MB/s, events/s,
%% the ratio to the NIF, the peak resident memory (the VM's, plus the port
%% process's for the port), and the worst lateness a probe process saw
%% when it asked to be woken every millisecond.
%%
%% Every backend reads the file in 1 MB chunks (cut anywhere), keeps hourly
%% windows per (customer, resource, meter) and deduplicates by (source, id).
%% The events each counted must agree, or the row says so.
%%
%% Parameters (environment): SIZES (MB, default 10,100,1000), KEYS (default
%% 1000,100000,1000000, at KEYS_MB=100 MB), FORMATS (jsonl,s3), REPEAT (3:
%% each row is the best of that many runs, each in a fresh VM), DATA_DIR.
-module(tally_bench).

-export([main/0, one/3, parse_only/2]).

-define(CONFIG, {aggregator_config, hour, true, [<<"bandwidth_out_bytes">>, <<"bandwidth_in_bytes">>],
                 [<<"storage_bytes">>], [], 172800000}).
-define(OPTIONS, {parser_options, 1048576, none, bucket_owner, true}).
-define(CHUNK, 1048576).

-spec main() -> no_return().
main() ->
    Sizes = ints(os:getenv("SIZES", "10,100,1000")),
    Keys = ints(os:getenv("KEYS", "1000,100000,1000000")),
    KeysMb = list_to_integer(os:getenv("KEYS_MB", "100")),
    Formats = [list_to_atom(F) || F <- string:tokens(os:getenv("FORMATS", "jsonl,s3"), ",")],
    Dir = os:getenv("DATA_DIR", "_build/bench/data"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    io:format("tally BEAM benchmark: OTP ~s, ~b schedulers, ~s~n",
              [erlang:system_info(otp_release), erlang:system_info(schedulers_online), cpu()]),
    io:format("gleam: the pure Gleam engine, up to 100 MB (the same state as the Rust engine: windows, dedup digests, rate intervals)~n~n"),
    header(),
    Cases = [{F, Mb, 100000} || F <- Formats, Mb <- Sizes] ++
            [{F, KeysMb, K} || F <- Formats, K <- Keys, K =/= 100000],
    lists:foreach(fun(Case) -> run_case(Case, Dir) end, Cases),
    parse_only(Dir, Formats),
    halt(0).

%% Parsing alone, events onto the BEAM heap, at 10 MB: the only work the
%% pure Gleam engine does so far, so its figures sit beside the others.
parse_only(Dir, Formats) ->
    io:format("~nparse only (whole 1 MB chunks cut at line ends, events returned to the BEAM):~n"),
    io:format("~-6s ~7s ~8s  ~-8s ~9s ~12s ~8s ~10s ~10s  ~s~n",
              ["format", "MB", "keys", "backend", "MB/s", "events/s", "vs nif", "peak RSS", "worst lag", "events"]),
    [begin
         File = data_file(F, 10, 100000, Dir),
         Bytes = filelib:file_size(File),
         Results = [{B, best([in_fresh_vm({parse, B}, F, File) || _ <- lists:seq(1, 3)])} || B <- [nif, port, gleam]],
         {nif, #{secs := NifSecs, events := NifEvents}} = lists:keyfind(nif, 1, Results),
         [io:format("~-6s ~7b ~8b  ~-8s ~9.1f ~12b ~7.2fx ~7b MB ~7.1f ms  ~b ~s~n",
                    [F, 10, 100000, B, Bytes / 1.0e6 / Secs, round(Events / Secs), NifSecs / Secs,
                     Rss div (1024 * 1024), Lag, Events,
                     case Events =:= NifEvents of true -> "agree"; false -> "DIFFER from nif" end])
          || {B, #{secs := Secs, events := Events, peak_rss := Rss, worst_lag_ms := Lag}} <- Results]
     end || F <- Formats].

ints(Text) -> [list_to_integer(T) || T <- string:tokens(Text, ",")].

cpu() ->
    case file:read_file("/proc/cpuinfo") of
        {ok, Info} ->
            case re:run(Info, "model name\\s*: ([^\\n]+)", [{capture, all_but_first, list}]) of
                {match, [Model]} -> Model;
                nomatch -> "unknown CPU"
            end;
        _ -> "unknown CPU"
    end.

header() ->
    io:format("~-6s ~7s ~8s  ~-8s ~9s ~12s ~8s ~10s ~10s  ~s~n",
              ["format", "MB", "keys", "backend", "MB/s", "events/s", "vs nif", "peak RSS", "worst lag", "events"]).

run_case({Format, Mb, Keys}, Dir) ->
    File = data_file(Format, Mb, Keys, Dir),
    Bytes = filelib:file_size(File),
    Jiffy = case code:which(jiffy) of
                non_existing -> io:format("(jiffy is not installed: scripts/setup.sh --bench)~n"), [];
                _ -> [jiffy_ets]
            end,
    %% The pure Gleam engine only up to 100 MB: at its speed 1 GB takes minutes a run.
    Gleam = case Mb =< 100 of true -> [gleam]; false -> [] end,
    Backends = [nif, port, shadow] ++ Gleam ++ case Format of jsonl -> Jiffy; s3 -> [] end,
    %% Best of REPEAT runs (3; 1 from 1 GB up): this machine is shared, and a
    %% run slowed by a neighbour says nothing about the backend.
    Repeat = case Mb >= 1000 of true -> 1; false -> list_to_integer(os:getenv("REPEAT", "3")) end,
    Results = [{B, best([in_fresh_vm(B, Format, File) || _ <- lists:seq(1, Repeat)])} || B <- Backends],
    {NifSecs, NifEvents} = case lists:keyfind(nif, 1, Results) of {nif, #{secs := S, events := E}} -> {S, E} end,
    lists:foreach(
        fun({B, #{secs := Secs, events := Events, peak_rss := Rss, worst_lag_ms := Lag}}) ->
            Agree = case Events =:= NifEvents of true -> "agree"; false -> "DIFFER from nif" end,
            io:format("~-6s ~7b ~8b  ~-8s ~9.1f ~12b ~7.2fx ~7b MB ~7.1f ms  ~b ~s~n",
                      [Format, Mb, Keys, B, Bytes / 1.0e6 / Secs, round(Events / Secs), NifSecs / Secs,
                       Rss div (1024 * 1024), Lag, Events, Agree])
        end, Results).

best(Runs) ->
    hd(lists:sort(fun(#{secs := A}, #{secs := B}) -> A =< B end, Runs)).

data_file(Format, Mb, Keys, Dir) ->
    Ext = case Format of jsonl -> "jsonl"; s3 -> "log" end,
    File = filename:join(Dir, lists:flatten(io_lib:format("~s-~bmb-~bkeys.~s", [Format, Mb, Keys, Ext]))),
    case filelib:is_regular(File) of
        true -> ok;
        false ->
            Cmd = io_lib:format("python3 bench/gen_data.py --format ~s --mb ~b --keys ~b --out ~s",
                                [Format, Mb, Keys, File]),
            _ = os:cmd(lists:flatten(Cmd))
    end,
    File.

%%% One measured run, each in a VM of its own: peak memory and the probe's
%%% worst lag are then this run's alone.

in_fresh_vm(Backend, Format, File) ->
    Ebins = [filename:dirname(code:which(M)) || M <- [tally_port, ?MODULE]],
    Eval = lists:flatten(io_lib:format("tally_bench:one(~p, ~p, ~p)", [Backend, Format, File])),
    Cmd = lists:flatten([os:find_executable("erl"), " -noshell", [[" -pa ", E] || E <- Ebins],
                         " -eval '", Eval, "' 2>&1"]),
    Out = os:cmd(Cmd),
    case re:run(Out, "RESULT (.*)\.", [{capture, all_but_first, list}]) of
        {match, [Text]} ->
            {ok, Tokens, _} = erl_scan:string(Text ++ "."),
            {ok, Result} = erl_parse:parse_term(Tokens),
            Result;
        nomatch ->
            error({run_failed, Backend, Format, File, Out})
    end.

-spec one(atom(), atom(), file:filename()) -> no_return().
one(Backend, Format, File) ->
    {ok, Port} = case Backend of
                     nif -> {ok, none};
                     jiffy_ets -> {ok, none};
                     {parse, port} -> tally_port:start_supervised(#{timeout => 600000});
                     {parse, _} -> {ok, none};
                     gleam -> {ok, none};
                     _ -> tally_port:start_supervised(#{timeout => 600000})
                 end,
    Result = measure(Backend, Format, File, Port),
    io:format("RESULT ~w.~n", [Result]),
    halt(0).

measure(Backend, Format, File, Port) ->
    erlang:garbage_collect(),
    reset_peak_rss(os:getpid()),
    PortPid = case Port of none -> "none"; _ -> integer_to_list(tally_port:os_pid(Port)) end,
    reset_peak_rss(PortPid),
    Probe = start_probe(),
    T0 = erlang:monotonic_time(microsecond),
    Events = run(Backend, Format, File, Port),
    Secs = (erlang:monotonic_time(microsecond) - T0) / 1.0e6,
    Lag = stop_probe(Probe),
    Rss = peak_rss(os:getpid()) + case Port of none -> 0; _ -> peak_rss(PortPid) end,
    #{secs => Secs, events => Events, peak_rss => Rss, worst_lag_ms => Lag}.

%% Events counted once (applied + duplicates seen), read through Backend.
run(nif, Format, File, _Port) ->
    {ok, A} = tally_nif:aggregator_new(?CONFIG),
    {ok, P} = tally_nif:parser_new(format(Format), ?OPTIONS),
    each_chunk(File, fun(C) -> {ok, _} = tally_nif:aggregator_feed(A, P, C) end),
    {ok, _} = tally_nif:aggregator_finish(A, P),
    {ok, {counters, Applied, Duplicates, _}} = tally_nif:aggregator_counters(A),
    Applied + Duplicates;
run(port, Format, File, Port) ->
    {ok, A} = tally_port:call(Port, aggregator_new, {?CONFIG}),
    {ok, P} = tally_port:call(Port, parser_new, {format(Format), ?OPTIONS}),
    each_chunk(File, fun(C) -> {ok, _} = tally_port:call(Port, aggregator_feed, {A, P, C}) end),
    {ok, _} = tally_port:call(Port, aggregator_finish, {A, P}),
    {ok, {counters, Applied, Duplicates, _}} = tally_port:call(Port, aggregator_counters, {A}),
    {ok, nil} = tally_port:call(Port, release, {A}),
    {ok, nil} = tally_port:call(Port, release, {P}),
    Applied + Duplicates;
run({parse, Backend}, Format, File, Port) ->
    Chunks = line_chunks(File),
    Parse = case Backend of
                nif -> fun(C) -> tally_nif:parse_chunk(format(Format), ?OPTIONS, C) end;
                port -> fun(C) -> tally_port:call(Port, parse_chunk, {format(Format), ?OPTIONS, C}) end;
                gleam -> fun(C) -> 'tally@pure':parse_chunk(format(Format), ?OPTIONS, C) end
            end,
    lists:sum([length(Events) || C <- Chunks, {ok, {parsed, Events, _, _}} <- [Parse(C)]]);
run(gleam, Format, File, _Port) ->
    %% The pure Gleam engine (tally/pure): windows and dedup, no rate
    %% intervals or gauge samples (it does not bill yet), so less work.
    {ok, A} = 'tally@pure':aggregator_new(?CONFIG),
    {ok, P} = 'tally@pure':parser_new(format(Format), ?OPTIONS),
    each_chunk(File, fun(C) -> {ok, _} = 'tally@pure':aggregator_feed(A, P, C) end),
    {ok, _} = 'tally@pure':aggregator_finish(A, P),
    {ok, {counters, Applied, Duplicates, _}} = 'tally@pure':aggregator_counters(A),
    Applied + Duplicates;
run(shadow, Format, File, Port) ->
    %% Shadow mode through the Gleam API (tally/aggregate): the NIF answers,
    %% the port runs the same work and every answer is compared.
    Backend = {shadow, nif, {port, {port, Port}}},
    {ok, A} = 'tally@aggregate':new(Backend, ?CONFIG),
    {ok, P} = 'tally@parse':new(Backend, format(Format), ?OPTIONS),
    each_chunk(File, fun(C) -> {ok, _} = 'tally@aggregate':feed(A, P, C) end),
    {ok, _} = 'tally@aggregate':finish(A, P),
    {ok, {counters, Applied, Duplicates, _}} = 'tally@aggregate':counters(A),
    [{shadow_stats, _, _, 0} = S || S <- tally_shadow:stats()],
    Applied + Duplicates;
run(jiffy_ets, jsonl, File, _Port) ->
    Windows = ets:new(windows, [set]),
    Seen = ets:new(seen, [set]),
    Rest = each_chunk(File, fun(C, Carry) -> jiffy_lines(<<Carry/binary, C/binary>>, Windows, Seen) end, <<>>),
    _ = jiffy_lines(<<Rest/binary, "\n">>, Windows, Seen),
    Events = ets:info(Seen, size),
    ets:delete(Windows),
    ets:delete(Seen),
    Events.

%% The file in chunks of about 1 MB ending at line ends (reading is timed,
%% the same for every backend).
line_chunks(File) ->
    {ok, Bin} = file:read_file(File),
    cut_lines(Bin).

cut_lines(Bin) when byte_size(Bin) =< ?CHUNK -> [Bin];
cut_lines(Bin) ->
    case binary:match(Bin, <<"\n">>, [{scope, {?CHUNK, byte_size(Bin) - ?CHUNK}}]) of
        {Pos, 1} ->
            <<Chunk:(Pos + 1)/binary, Rest/binary>> = Bin,
            [Chunk | cut_lines(Rest)];
        nomatch ->
            [Bin]
    end.

format(jsonl) -> json_lines;
format(s3) -> s3_access_log.

each_chunk(File, Fun) ->
    each_chunk(File, fun(C, nil) -> Fun(C), nil end, nil).

each_chunk(File, Fun, Acc0) ->
    {ok, Io} = file:open(File, [read, raw, binary]),
    Loop = fun L(Acc) ->
                   case file:read(Io, ?CHUNK) of
                       {ok, C} -> L(Fun(C, Acc));
                       eof -> Acc
                   end
           end,
    Acc = Loop(Acc0),
    ok = file:close(Io),
    Acc.

%% The jiffy pipeline: whole lines decoded to maps, the hour window from
%% the RFC 3339 time, sums and counts in ETS, dedup in an ETS set.
jiffy_lines(Bin, Windows, Seen) ->
    Lines = binary:split(Bin, <<"\n">>, [global]),
    {Whole, [Carry]} = lists:split(length(Lines) - 1, Lines),
    lists:foreach(fun(<<>>) -> ok; (L) -> jiffy_event(L, Windows, Seen) end, Whole),
    Carry.

jiffy_event(Line, Windows, Seen) ->
    case jiffy:decode(Line, [return_maps]) of
        #{<<"id">> := Id, <<"source">> := Source, <<"subject">> := Customer, <<"time">> := Time,
          <<"data">> := #{<<"resource">> := Resource, <<"meter">> := Meter, <<"value">> := Value}} ->
            case ets:insert_new(Seen, {{Source, Id}}) of
                true ->
                    Ms = calendar:rfc3339_to_system_time(binary_to_list(Time), [{unit, millisecond}]),
                    Key = {Customer, Resource, Meter, Ms - Ms rem 3600000},
                    ets:update_counter(Windows, Key, [{2, Value}, {3, 1}], {Key, 0, 0});
                false ->
                    ok
            end
    end.

%%% Measuring

%% Asks to be woken every millisecond and keeps the worst lateness.
start_probe() ->
    Parent = self(),
    spawn_link(fun() -> probe(Parent, 0) end).

probe(Parent, Worst) ->
    T0 = erlang:monotonic_time(microsecond),
    receive
        {stop, From} -> From ! {probe, Worst / 1000}
    after 1 ->
        Late = erlang:monotonic_time(microsecond) - T0 - 1000,
        probe(Parent, max(Worst, Late))
    end.

stop_probe(Probe) ->
    Probe ! {stop, self()},
    receive {probe, Worst} -> Worst end.

%% Linux: writing 5 to clear_refs resets the peak RSS (VmHWM) of a process.
reset_peak_rss(OsPid) ->
    _ = file:write_file("/proc/" ++ OsPid ++ "/clear_refs", <<"5">>),
    ok.

peak_rss(OsPid) ->
    case file:read_file("/proc/" ++ OsPid ++ "/status") of
        {ok, Status} ->
            {match, [Kb]} = re:run(Status, "VmHWM:\\s*(\\d+) kB", [{capture, all_but_first, list}]),
            list_to_integer(Kb) * 1024;
        _ -> 0
    end.
