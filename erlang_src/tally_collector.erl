%% @doc A collector: one per configured source (a file, or a directory whose
%% files are read in name order). Every `poll_ms` it reads what was
%% appended, in chunks cut at line ends, parses each chunk with the
%% configured backend, writes every rejected line to `rejects.jsonl` (file,
%% line, byte offset, reason, text), and hands the events to the shards
%% with the position they reach. It has no offsets file of its own: the
%% shards' snapshots hold the positions, and a restarted collector resumes
%% from the lowest one, so nothing the shards have not saved is skipped.
%% Handing events to a shard is a call: when the shards are busy the
%% collector waits (bounded), it never drops.
%%
%% RGW usage files are single JSON documents: each is read whole once its
%% size has stopped changing between two polls and it ends with its closing
%% brace. A last line without a newline is only taken once the file has not
%% been modified for `settle_ms` (5 s): a writer may be in the middle of it.
-module(tally_collector).
-behaviour(gen_server).

-export([start_link/1, sync/1, stats/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(CHUNK, 1048576).

-record(file, {offset = 0 :: non_neg_integer(),
               line = 0 :: non_neg_integer(),
               last_size = -1 :: integer(),
               header = none :: none | binary()}).

-record(state, {name :: binary(),
                format :: atom(),
                path :: file:filename(),
                backend :: tally_engine:backend(),
                options :: tuple(),
                shards :: pos_integer(),
                rejects_path :: file:filename(),
                poll_ms :: pos_integer(),
                settle_ms :: non_neg_integer(),
                chunk :: pos_integer(),
                files = #{} :: #{binary() => #file{}},
                stats = #{records => 0, events => 0, rejected => 0, skipped => 0} :: map()}).

-spec start_link(map()) -> {ok, pid()} | {error, term()}.
start_link(Opts) -> gen_server:start_link(?MODULE, Opts, []).

%% Reads everything available now; returns when it is all handed to the shards.
-spec sync(pid()) -> ok.
sync(Collector) -> gen_server:call(Collector, sync, infinity).

-spec stats(pid()) -> map().
stats(Collector) -> gen_server:call(Collector, stats).

-spec init(map()) -> {ok, #state{}}.
init(#{name := Name, format := Format, path := Path, backend := Backend, shards := Shards,
       data_dir := DataDir} = Opts) ->
    Source = case Format of json_lines -> none; _ -> {some, Name} end,
    State = #state{name = Name, format = Format, path = Path, backend = Backend, shards = Shards,
                   options = {parser_options, maps:get(max_line, Opts, ?CHUNK), Source,
                              maps:get(s3_customer, Opts, bucket_owner)},
                   rejects_path = filename:join(DataDir, "rejects.jsonl"),
                   poll_ms = maps:get(poll_ms, Opts, 1000),
                   settle_ms = maps:get(settle_ms, Opts, 5000),
                   chunk = maps:get(chunk_bytes, Opts, ?CHUNK)},
    self() ! poll,
    {ok, State#state{files = resume_positions(State)}}.

%% The lowest position of each file among the shards' snapshots.
resume_positions(#state{name = Name, shards = N}) ->
    All = [tally_shard:positions(tally_shard:name(I)) || I <- lists:seq(0, N - 1)],
    Files = lists:usort([F || P <- All, {S, F} <- maps:keys(P), S =:= Name]),
    maps:from_list([{F, lowest([maps:get({Name, F}, P, {0, 0}) || P <- All])} || F <- Files]).

lowest(Positions) ->
    {Offset, Line} = lists:min(Positions),
    #file{offset = Offset, line = Line}.

-spec handle_call(term(), gen_server:from(), #state{}) -> {reply, term(), #state{}}.
handle_call(sync, _From, State) ->
    %% Twice: a file's size must be seen unchanged to take a last unterminated line.
    {reply, ok, poll(poll(State))};
handle_call(stats, _From, State) ->
    {reply, State#state.stats, State};
handle_call(_Other, _From, State) ->
    {reply, {error, unknown_call}, State}.

-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(_Msg, State) -> {noreply, State}.

-spec handle_info(term(), #state{}) -> {noreply, #state{}}.
handle_info(poll, State) ->
    erlang:send_after(State#state.poll_ms, self(), poll),
    {noreply, poll(State)};
handle_info(_Other, State) ->
    {noreply, State}.

%%% Reading

poll(#state{path = Path} = State) ->
    Files = case filelib:is_dir(Path) of
                true -> [filename:join(Path, F) || F <- lists:sort(filelib:wildcard("*", Path)),
                                                   filelib:is_regular(filename:join(Path, F))];
                false -> [Path || filelib:is_regular(Path)]
            end,
    lists:foldl(fun read_file/2, State, Files).

read_file(Path, #state{files = Files} = State) ->
    Key = unicode:characters_to_binary(Path),
    F0 = maps:get(Key, Files, #file{}),
    Size = filelib:file_size(Path),
    {F, State1} = read_more(Path, Key, Size, F0, State),
    State1#state{files = maps:put(Key, F#file{last_size = Size}, State1#state.files)}.

read_more(Path, Key, Size, #file{offset = Offset}, #state{name = Name} = State) when Offset > Size ->
    %% Truncated in place (log rotation by copy and truncate): what is there
    %% now is new. Reading it from the start is safe; what was read before
    %% and is read again is dropped by deduplication.
    logger:warning(#{msg => "source file shrank, reading it from the start", source => Name,
                     file => Key, offset => Offset, size => Size}),
    read_more(Path, Key, Size, #file{}, State);
read_more(_Path, _Key, Size, #file{offset = Offset} = F, State) when Offset >= Size ->
    {F, State};
read_more(Path, Key, Size, #file{offset = Offset, last_size = Last} = F, #state{format = rgw_usage} = State) ->
    case Size =:= Last andalso Offset =:= 0 andalso file:read_file(Path) of
        {ok, Doc} ->
            case binary:last(string:trim(Doc, trailing)) of
                $} -> {F#file{offset = Size}, hand_over(Key, Doc, 0, {Size, 1}, F, State)};
                _ -> {F, State}  % not closed yet: still being written
            end;
        _ ->
            {F, State}  % still growing, or already read
    end;
read_more(Path, Key, Size, #file{offset = Offset, line = Line} = F0, State) ->
    F = with_header(Path, F0, State),
    {ok, Io} = file:open(Path, [read, raw, binary]),
    {ok, Bytes} = file:pread(Io, Offset, State#state.chunk),
    ok = file:close(Io),
    Chunk = case binary:matches(Bytes, <<"\n">>) of
                [] when byte_size(Bytes) =:= State#state.chunk -> Bytes;  % a line over the chunk: the parser rejects it
                [] -> case settled(Path, State) of true -> Bytes; false -> <<>> end;
                Newlines -> {Pos, 1} = lists:last(Newlines), binary:part(Bytes, 0, Pos + 1)
            end,
    case Chunk of
        <<>> ->
            {F, State};
        _ ->
            Lines = length(binary:matches(Chunk, <<"\n">>)) + case binary:last(Chunk) of $\n -> 0; _ -> 1 end,
            Position = {Offset + byte_size(Chunk), Line + Lines},
            State1 = hand_over(Key, Chunk, Line, Position, F, State),
            F1 = F#file{offset = element(1, Position), line = element(2, Position)},
            read_more(Path, Key, Size, F1, State1)
    end.

%% Not modified for settle_ms: a last line without a newline is finished.
settled(Path, #state{settle_ms = Settle}) ->
    {ok, Info} = file:read_file_info(Path, [{time, posix}]),
    erlang:system_time(second) - element(6, Info) >= Settle / 1000.

%% CSV chunks after the first need the header to be read on their own.
with_header(Path, #file{header = none, offset = Offset} = F, #state{format = storage_csv}) when Offset > 0 ->
    {ok, Io} = file:open(Path, [read, raw, binary, read_ahead]),
    {ok, Header} = file:read_line(Io),
    ok = file:close(Io),
    F#file{header = Header};
with_header(_Path, F, _State) ->
    F.

%% Parses a chunk whose first line is line BaseLine + 1 of the file, keeps
%% its rejects and gives its events to the shards.
hand_over(Key, Chunk, BaseLine, Position, #file{header = Header, offset = Offset},
          #state{backend = B, format = Format, options = Options} = State) ->
    {Input, Shift} = case {Format, Header, Offset > 0} of
                         {storage_csv, H, true} when is_binary(H) -> {<<H/binary, Chunk/binary>>, 1};
                         _ -> {Chunk, 0}
                     end,
    {ok, {parsed, Events, Rejects, {parse_stats, Records, _Accepted, Rejected, Skipped, NEvents, _Bytes}}} =
        tally_engine:call(B, parse_chunk, [Format, Options, Input]),
    %% A reject that cannot be written stops the collector: none is dropped.
    ok = keep_rejects(Key, Rejects, BaseLine - Shift, Offset - header_size(Shift, Header), State),
    ok = give_to_shards(Key, Position, Events, State),
    Stats = State#state.stats,
    State#state{stats = Stats#{records := maps:get(records, Stats) + Records - Shift,
                               events := maps:get(events, Stats) + NEvents,
                               rejected := maps:get(rejected, Stats) + Rejected,
                               skipped := maps:get(skipped, Stats) + Skipped - Shift}}.

header_size(0, _) -> 0;
header_size(_, Header) -> byte_size(Header).

give_to_shards(Key, Position, Events, #state{name = Name, shards = N}) ->
    {ByShard, _} = lists:foldl(fun(E, {Acc, Known}) ->
                                       {I, Known1} = shard_of(E, N, Known),
                                       {maps:update_with(I, fun(L) -> [E | L] end, [E], Acc), Known1}
                               end, {#{}, #{}}, Events),
    %% Every shard learns the position, also those with no events in this chunk.
    lists:foreach(fun(I) ->
                      ok = tally_shard:apply_events(tally_shard:name(I), {Name, Key}, Position,
                                                    lists:reverse(maps:get(I, ByShard, [])))
                  end, lists:seq(0, N - 1)).

%% The one customer-to-shard rule (tally_core::shard::shard_of): billing
%% asks each shard for the customers this gives it.
%% (The hash is computed once per customer of a chunk.)
shard_of(_Event, N, Known) when N =< 1 -> {0, Known};
shard_of({usage_event, _Id, _Source, Customer, _, _, _, _}, N, Known) ->
    case Known of
        #{Customer := I} -> {I, Known};
        _ -> I = tally_xxh3:hash64(Customer) rem N, {I, Known#{Customer => I}}
    end.

keep_rejects(_Key, [], _BaseLine, _BaseOffset, _State) ->
    ok;
keep_rejects(Key, Rejects, BaseLine, BaseOffset, #state{name = Name, rejects_path = Path}) ->
    Lines = [begin
                 Json = #{<<"source">> => Name, <<"file">> => Key, <<"line">> => BaseLine + Line,
                          <<"offset">> => BaseOffset + Offset, <<"reason">> => reason(Reason),
                          <<"text">> => text(Text)},
                 logger:info(#{msg => "rejected line", source => Name, file => Key,
                                 line => BaseLine + Line, reason => Reason}),
                 [tally_json:encode(Json), $\n]
             end || {reject, _Format, Line, Offset, Reason, Text} <- Rejects],
    tally_files:append_durably(Path, Lines).

%% A reason as JSON: its kind and its fields, e.g. {"kind":"invalid_json","column":7,...}.
reason(Atom) when is_atom(Atom) -> #{<<"kind">> => atom_to_binary(Atom)};
reason(Tuple) when is_tuple(Tuple) ->
    [Kind | Fields] = tuple_to_list(Tuple),
    #{<<"kind">> => atom_to_binary(Kind),
      <<"detail">> => [case F of B when is_binary(B) -> B; _ -> F end || F <- Fields]}.

text(Bin) ->
    case unicode:characters_to_binary(Bin) of
        Text when is_binary(Text) -> Text;
        _ -> base64:encode(Bin)  % not UTF-8: kept, encoded
    end.
