%% @doc A collector: one per configured source (a file, or a directory whose
%% files are read in name order). Every `poll_ms` it reads what was
%% appended, in chunks cut at line ends, parses each chunk with the
%% configured engine into one opaque batch per shard (`ingest_chunk`: the
%% events stay in the engine, partitioned by `shard_of`), writes every
%% rejected line to `rejects.jsonl` (file, line, byte offset, reason, text),
%% and sends each shard its batch with where the chunk starts and the
%% position it reaches. The shards apply a chunk's batches concurrently,
%% while the collector reads and parses the next chunk; it waits for them
%% before sending more (flow control: one chunk in flight).
%%
%% Files are known by identity (device, inode, and a fingerprint of their
%% first bytes: `tally_source_pos'), not by path. A file source keeps its
%% file open: when the path names another file (rotation by rename), the
%% old one is read to its end first, then the new one from its start. A file
%% that shrank or whose first bytes changed (copy-and-truncate, even when it
%% regrew past the old offset) is read again from its start as a new
%% generation. The collector has no offsets file of its own: the shards'
%% snapshots hold the positions; a restarted collector resumes from the
%% lowest one and cuts its chunks at the others, so each shard skips by
%% position what it already has.
%%
%% Lines: a line over `max_line` bytes is rejected whole (`line_too_long`,
%% its length, its first bytes) and nothing up to its newline counts. A last
%% line without a newline waits while the file may still grow; it is taken
%% when the file is known complete: rotated away, or when a period is
%% closed (`read_to_end/1`, which the closer calls first, as `tally bill`
%% reads its files to their end). RGW usage files are single JSON
%% documents: each is read whole once its size has not changed between two
%% polls and it ends with its closing brace, or at `read_to_end/1`.
%%
%% A file that cannot be read or parsed is reported (logger error) and
%% retried with backoff (poll_ms doubling to a minute); the collector and
%% the source's other files carry on.
-module(tally_collector).
-behaviour(gen_server).

-include_lib("kernel/include/file.hrl").

-export([start_link/1, sync/1, read_to_end/1, stats/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(CHUNK, 1048576).
-define(MAX_BACKOFF_MS, 60000).
-define(KEPT_TEXT, 4096).

-record(file, {id :: tally_source_pos:id(),
               path :: binary(),
               io = closed :: file:io_device() | closed,
               pos :: tally_source_pos:pos(),
               cuts = [] :: [non_neg_integer()],         % offsets where some shard stopped
               size = 0 :: non_neg_integer(),
               last_size = -1 :: integer(),
               scanned = 0 :: non_neg_integer(),          % an over-long line seen up to here
               header = none :: none | binary()}).

-record(state, {name :: binary(),
                format :: atom(),
                path :: file:filename(),
                dir :: boolean(),
                backend :: tally_engine:backend(),
                options :: tuple(),
                max_line :: pos_integer(),
                shards :: pos_integer(),
                rejects_path :: file:filename(),
                poll_ms :: pos_integer(),
                chunk :: pos_integer(),
                files = #{} :: #{tally_source_pos:id() => #file{}},
                %% The shards' records of files not open yet, by identity.
                known = #{} :: #{tally_source_pos:id() => [tally_source_pos:pos() | none]},
                failing = #{} :: #{binary() => {integer(), pos_integer()}},
                pending = [] :: [gen_server:request_id()],  % the chunk the shards are applying
                stats = #{records => 0, events => 0, rejected => 0, skipped => 0, failures => 0} :: map()}).

-spec start_link(map()) -> {ok, pid()} | {error, term()}.
start_link(Opts) -> gen_server:start_link(?MODULE, Opts, []).

%% Reads everything complete now; returns when it is all handed to the shards.
-spec sync(pid()) -> ok.
sync(Collector) -> gen_server:call(Collector, {sync, false}, infinity).

%% Reads every file to its end, a last line without a newline included.
-spec read_to_end(pid()) -> ok.
read_to_end(Collector) -> gen_server:call(Collector, {sync, true}, infinity).

-spec stats(pid()) -> map().
stats(Collector) -> gen_server:call(Collector, stats).

-spec init(map()) -> {ok, #state{}}.
init(#{name := Name, format := Format, path := Path, backend := Backend, shards := Shards,
       data_dir := DataDir} = Opts) ->
    Source = case Format of json_lines -> none; _ -> {some, Name} end,
    MaxLine = maps:get(max_line, Opts, ?CHUNK),
    State = #state{name = Name, format = Format, path = Path, dir = filelib:is_dir(Path),
                   backend = Backend, shards = Shards, max_line = MaxLine,
                   options = {parser_options, MaxLine, Source, maps:get(s3_customer, Opts, bucket_owner)},
                   rejects_path = filename:join(DataDir, "rejects.jsonl"),
                   poll_ms = maps:get(poll_ms, Opts, 1000),
                   chunk = maps:get(chunk_bytes, Opts, ?CHUNK)},
    self() ! poll,
    {ok, State#state{known = shard_records(State)}}.

%% Each shard's record of every file of this source (none where a shard has none).
shard_records(#state{name = Name, shards = N}) ->
    All = [tally_shard:positions(tally_shard:name(I)) || I <- lists:seq(0, N - 1)],
    Ids = lists:usort([Id || P <- All, {S, Id} <- maps:keys(P), S =:= Name]),
    maps:from_list([{Id, [maps:get({Name, Id}, P, none) || P <- All]} || Id <- Ids]).

-spec handle_call(term(), gen_server:from(), #state{}) -> {reply, term(), #state{}}.
handle_call({sync, ToEnd}, _From, State) ->
    %% Twice: an RGW document is taken once its size was seen unchanged.
    {reply, ok, await(poll(poll(State, false), ToEnd))};
handle_call(stats, _From, State) ->
    {reply, State#state.stats, State};
handle_call(_Other, _From, State) ->
    {reply, {error, unknown_call}, State}.

-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(_Msg, State) -> {noreply, State}.

-spec handle_info(term(), #state{}) -> {noreply, #state{}}.
handle_info(poll, State) ->
    erlang:send_after(State#state.poll_ms, self(), poll),
    {noreply, await(poll(State, false))};
handle_info(_Other, State) ->
    {noreply, State}.

%%% Finding the files

%% The files at the source's paths now, by identity, in reading order.
present(#state{path = Path, dir = true}) ->
    Names = case file:list_dir(Path) of {ok, Ns} -> lists:sort(Ns); {error, _} -> [] end,
    lists:append([stat(filename:join(Path, N)) || N <- Names]);
present(#state{path = Path}) ->
    stat(Path).

stat(Path) ->
    case file:read_file_info(Path, [raw]) of
        {ok, #file_info{type = regular} = Info} -> [{unicode:characters_to_binary(Path), tally_source_pos:id(Info)}];
        _ -> []
    end.

%% Rotated files of a file source that a shard has not seen finished:
%% siblings named after it (`in.jsonl.1`, `in.jsonl-20261001`).
rotated(_Present, #state{dir = true}) ->
    [];
rotated(Present, #state{path = Path, known = Known}) ->
    Unfinished = [Id || {Id, Records} <- maps:to_list(Known), not lists:keymember(Id, 2, Present),
                        lists:any(fun(#{done := Done}) -> not Done; (none) -> true end, Records)],
    case Unfinished of
        [] -> [];
        _ ->
            Dir = filename:dirname(Path),
            Base = filename:basename(Path),
            Siblings = case file:list_dir(Dir) of {ok, Ns} -> lists:sort(Ns); _ -> [] end,
            [S || N <- Siblings, lists:prefix(Base, N), N =/= Base,
                  {_, Id} = S <- stat(filename:join(Dir, N)), lists:member(Id, Unfinished)]
    end.

%%% Reading

poll(State0, ToEnd) ->
    Present = present(State0),
    %% Open files no longer at any path of the source were rotated away:
    %% complete, read to their end before anything newer.
    Gone = [Id || Id <- maps:keys(State0#state.files), not lists:keymember(Id, 2, Present)],
    State1 = lists:foldl(fun finish_gone/2, State0, Gone),
    Mode = case ToEnd of true -> to_end; false -> poll end,
    Rotated = [{P, Id, gone} || {P, Id} <- rotated(Present, State1)],
    lists:foldl(fun({Path, Id, M}, S) -> guarded(Path, Id, M, S) end,
                State1, Rotated ++ [{P, Id, Mode} || {P, Id} <- Present]).

finish_gone(Id, #state{files = Files} = State) ->
    #file{path = Path, io = Io} = maps:get(Id, Files),
    State1 = case Io of
                 closed -> State;  % a directory's file, removed: nothing left to read
                 _ -> guarded(Path, Id, gone, State)
             end,
    case maps:find(Id, State1#state.files) of
        {ok, #file{io = Io1}} -> close(Io1);
        error -> ok
    end,
    State1#state{files = maps:remove(Id, State1#state.files)}.

%% Reads one file: in a poll (what is complete), to its end (a period is
%% being closed), or to its end for the last time (rotated away: gone).
%% An error is reported and the file retried later, with backoff. Exits (a
%% shard that is down) stop the collector: it restarts from the shards'
%% positions.
guarded(Path, Id, Mode, #state{failing = Failing} = State) ->
    Now = erlang:monotonic_time(millisecond),
    case maps:find(Path, Failing) of
        {ok, {RetryAt, _}} when RetryAt > Now, Mode =:= poll ->
            State;
        _ ->
            try read_file(Path, Id, Mode, State) of
                State1 -> State1#state{failing = maps:remove(Path, Failing)}
            catch
                error:Reason:Stack ->
                    Delay = case maps:find(Path, Failing) of
                                {ok, {_, D}} -> min(2 * D, ?MAX_BACKOFF_MS);
                                error -> State#state.poll_ms
                            end,
                    logger:error(#{msg => "source file failed, retrying later", source => State#state.name,
                                   file => Path, reason => Reason, stack => Stack, retry_ms => Delay}),
                    %% Chunks may have reached the shards since State: the
                    %% file resumes from what the shards hold now.
                    _ = [gen_server:receive_response(R, infinity) || R <- pending_since(State)],
                    Files = case maps:find(Id, State#state.files) of
                                {ok, #file{io = Io}} -> close(Io), maps:remove(Id, State#state.files);
                                error -> State#state.files
                            end,
                    Known = maps:merge(State#state.known, maps:with([Id], shard_records(State))),
                    Stats = State#state.stats,
                    State#state{files = Files, known = Known, pending = [],
                                failing = maps:put(Path, {Now + Delay, Delay}, Failing),
                                stats = Stats#{failures := maps:get(failures, Stats) + 1}}
            end
    end.

close(closed) -> ok;
close(Io) -> _ = file:close(Io), ok.

read_file(Path, Id, Mode, #state{files = Files, dir = Dir, known = Known} = State0) ->
    Complete = Mode =/= poll,
    {F0, State} = case maps:find(Id, Files) of
                      {ok, F} -> {F, State0};
                      error -> {resume(Path, Id, State0), State0#state{known = maps:remove(Id, Known)}}
                  end,
    case F0 of
        #file{pos = #{done := true}} ->
            State#state{files = maps:put(Id, F0, State#state.files)};  % finished before a restart
        _ ->
            F1 = open(F0, Id),
            F2 = check_rewritten(F1, State),
            {F3, State1} = read_more(F2, Complete, State),
            {F4, State2} = case Mode of
                               gone -> finished(F3, State1);
                               _ -> {F3, State1}
                           end,
            %% A directory's files are reopened each poll: a large directory holds no descriptors.
            F5 = case Dir of true -> close(F4#file.io), F4#file{io = closed}; false -> F4 end,
            State2#state{files = maps:put(Id, F5#file{last_size = F5#file.size}, State2#state.files)}
    end.

%% A file rotated away and read to its end: the shards record it as done,
%% so a restart does not look for it again.
finished(#file{id = Id, pos = #{gen := Gen, offset := Offset} = Pos} = F, State) ->
    Done = Pos#{done := true},
    {F#file{pos = Done}, give_to_shards(Id, {Gen, Offset}, Done, none, State)}.

%% A file seen for the first time since start: from the shards' records.
resume(Path, Id, #state{known = Known}) ->
    F = #file{id = Id, path = Path, pos = tally_source_pos:start(0)},
    case maps:find(Id, Known) of
        error ->
            F;
        {ok, Records} ->
            Io = open_io(Path, Id),
            Matches = fun({Len, _} = Fp) -> tally_source_pos:fingerprint(pread(Io, 0, Len)) =:= Fp end,
            {Pos, Cuts} = tally_source_pos:resume(Records, Matches),
            F#file{io = Io, pos = Pos, cuts = Cuts, scanned = maps:get(offset, Pos)}
    end.

open(#file{io = closed, path = Path} = F, Id) -> F#file{io = open_io(Path, Id)};
open(F, _Id) -> F.

%% Opens Path and checks it is still the file Id (it may have been renamed since).
open_io(Path, Id) ->
    {ok, Io} = file:open(Path, [read, raw, binary]),
    case file:read_file_info(Io, [raw]) of
        {ok, Info} ->
            case tally_source_pos:id(Info) of
                Id -> Io;
                Other -> ok = file:close(Io), error({file_replaced_while_opening, Path, Id, Other})
            end
    end.

pread(Io, Offset, Len) ->
    case file:pread(Io, Offset, Len) of
        {ok, Bytes} -> Bytes;
        eof -> <<>>
    end.

%% The file's size now, and a new generation from its start when it shrank
%% below what was read or its first bytes changed (copy-and-truncate).
check_rewritten(#file{io = Io, pos = #{gen := Gen, offset := Offset, fp := {Len, _} = Fp}} = F, State) ->
    {ok, #file_info{size = Size}} = file:read_file_info(Io, [raw]),
    case Size >= Offset andalso tally_source_pos:fingerprint(pread(Io, 0, Len)) =:= Fp of
        true ->
            F#file{size = Size};
        false ->
            logger:warning(#{msg => "source file was rewritten, reading it from the start", source => State#state.name,
                             file => F#file.path, offset => Offset, size => Size}),
            F#file{size = Size, pos = tally_source_pos:start(Gen + 1), cuts = [], scanned = 0, header = none,
                   last_size = -1}
    end.

read_more(#file{pos = #{offset := Offset}, size = Size} = F, _Complete, State) when Offset >= Size ->
    {F, State};
read_more(#file{io = Io, size = Size, last_size = Last, pos = #{offset := Offset}} = F, Complete,
          #state{format = rgw_usage} = State) ->
    case Offset =:= 0 andalso (Complete orelse Size =:= Last) of
        false ->
            {F, State};  % still growing, or read already
        true ->
            Doc = pread(Io, 0, Size),
            case Complete orelse ends_with_brace(Doc) of
                true -> hand_over(F, Doc, Size, State);
                false -> {F, State}  % not closed yet: still being written
            end
    end;
read_more(#file{io = Io, pos = #{offset := Offset}, size = Size, cuts = Cuts} = F, Complete, State) ->
    {Cut, AtShard} = case [C || C <- Cuts, C > Offset] of
                         [C | _] when C =< Size -> {C, true};
                         _ -> {Size, false}
                     end,
    Bytes = pread(Io, Offset, min(State#state.chunk, Cut - Offset)),
    End = Offset + byte_size(Bytes),
    Unit = case End =:= Cut andalso AtShard of
               true -> Bytes;  % up to where a shard stopped: a whole unit
               false -> whole_lines(Bytes)
           end,
    case Unit of
        <<>> when End =:= Size, not Complete ->
            {F, State};  % a line without its newline yet: it may still grow
        <<>> when End =:= Size ->
            next(hand_over(F, Bytes, End, State), Complete, State);
        <<>> ->
            long_line(F, Complete, State);
        _ ->
            next(hand_over(F, Unit, Offset + byte_size(Unit), State), Complete, State)
    end.

next({F, State1}, Complete, _State) -> read_more(F, Complete, State1).

whole_lines(Bytes) ->
    case binary:matches(Bytes, <<"\n">>) of
        [] -> <<>>;
        Newlines -> {Pos, 1} = lists:last(Newlines), binary:part(Bytes, 0, Pos + 1)
    end.

ends_with_brace(Doc) ->
    case string:trim(Doc, trailing) of
        <<>> -> false;
        Trimmed -> binary:last(Trimmed) =:= $}
    end.

%% A line longer than a chunk: found whole (up to max_line) and handed
%% over as one chunk, or, when longer, rejected whole once its end is
%% known (its newline, or the end of a complete file).
long_line(#file{io = Io, pos = #{offset := Offset}, size = Size, scanned = Scanned} = F, Complete,
          #state{max_line = Max} = State) ->
    case find_newline(Io, max(Offset, Scanned), Size, State#state.chunk) of
        {found, Nl} when Nl - Offset =< Max ->
            next(hand_over(F, pread(Io, Offset, Nl + 1 - Offset), Nl + 1, State), Complete, State);
        {found, Nl} ->
            next(too_long(F, Nl - Offset, Nl + 1, State), Complete, State);
        not_found when Complete, Size - Offset =< Max ->
            next(hand_over(F, pread(Io, Offset, Size - Offset), Size, State), Complete, State);
        not_found when Complete ->
            next(too_long(F, Size - Offset, Size, State), Complete, State);
        not_found ->
            {F#file{scanned = Size}, State}  % its end is not written yet
    end.

find_newline(_Io, From, Size, _Chunk) when From >= Size ->
    not_found;
find_newline(Io, From, Size, Chunk) ->
    Bytes = pread(Io, From, min(Chunk, Size - From)),
    case binary:match(Bytes, <<"\n">>) of
        {At, 1} -> {found, From + At};
        nomatch -> find_newline(Io, From + byte_size(Bytes), Size, Chunk)
    end.

%% One over-long line, of Length bytes, ending at End: one reject, no events.
too_long(#file{io = Io, pos = #{offset := Offset}} = F, Length, End, State) ->
    Head = pread(Io, Offset, min(Length, ?KEPT_TEXT)),
    Reject = {reject, State#state.format, 1, 0, {line_too_long, Length, State#state.max_line}, Head},
    deliver(F, {ingested, none, [Reject], {parse_stats, 1, 0, 1, 0, 0, End - Offset}}, 0, End, 1, State).

%% CSV chunks after the first need the header to be read on their own.
with_header(#file{header = none, io = Io, pos = #{offset := Offset}} = F, #state{format = storage_csv, chunk = Chunk})
  when Offset > 0 ->
    F#file{header = case whole_lines(pread(Io, 0, Chunk)) of
                        <<>> -> none;
                        Lines -> [H | _] = binary:split(Lines, <<"\n">>), <<H/binary, "\n">>
                    end};
with_header(F, _State) ->
    F.

%% Parses a chunk of the file that ends at End and hands it over.
hand_over(F0, Chunk, End, #state{backend = B, format = Format, options = Options, shards = N} = State) ->
    F = with_header(F0, State),
    #file{header = Header, pos = #{offset := Offset}} = F,
    {Input, Shift} = case {Format, Header, Offset > 0} of
                         {storage_csv, H, true} when is_binary(H) -> {<<H/binary, Chunk/binary>>, 1};
                         _ -> {Chunk, 0}
                     end,
    {ok, Ingested} = tally_engine:call(B, ingest_chunk, [Format, Options, N, Input]),
    Lines = case Format of
                rgw_usage -> 1;
                _ -> length(binary:matches(Chunk, <<"\n">>)) + case binary:last(Chunk) of $\n -> 0; _ -> 1 end
            end,
    deliver(F, Ingested, Shift, End, Lines, State).

%% Keeps the rejects of a parsed chunk and sends the shards their batches
%% with the position the file reaches at End (Lines further on).
deliver(#file{pos = Pos, io = Io, path = Path} = F, {ingested, Batches, Rejects, Stats}, Shift, End, Lines, State) ->
    {parse_stats, Records, _Accepted, Rejected, Skipped, NEvents, _Bytes} = Stats,
    #{gen := Gen, offset := Offset, line := Line, fp := Fp} = Pos,
    HeaderBytes = case Shift of 0 -> 0; _ -> byte_size(F#file.header) end,
    %% A reject that cannot be written stops the collector: none is dropped.
    ok = keep_rejects(Path, Rejects, Line - Shift, Offset - HeaderBytes, State),
    To = Pos#{offset := End, line := Line + Lines,
              fp := tally_source_pos:extend_fp(Fp, End, fun(N) -> pread(Io, 0, N) end)},
    State1 = give_to_shards(F#file.id, {Gen, Offset}, To, Batches, State),
    S = State#state.stats,
    {F#file{pos = To, scanned = End},
     State1#state{stats = S#{records := maps:get(records, S) + Records - Shift,
                            events := maps:get(events, S) + NEvents,
                            rejected := maps:get(rejected, S) + Rejected,
                            skipped := maps:get(skipped, S) + Skipped - Shift}}}.

%% Sends every shard its batch of the chunk (none: the chunk has no events,
%% only a position), once the shards have applied the previous chunk. Every
%% shard learns the position, also those with no events in the chunk.
give_to_shards(Id, From, To, Batches, #state{name = Name, shards = N} = State) ->
    State1 = await(State),
    Each = case Batches of none -> lists:duplicate(N, none); _ -> Batches end,
    Requests = [tally_shard:send_batch(tally_shard:name(I), {Name, Id}, From, To, Batch)
                || {I, Batch} <- lists:zip(lists:seq(0, N - 1), Each)],
    State1#state{pending = Requests}.

%% Waits until the shards have applied the chunk in flight; a shard that
%% refuses it, or is down, stops the collector (it restarts from the
%% shards' positions).
await(#state{pending = Requests} = State) ->
    lists:foreach(fun(R) -> {reply, ok} = gen_server:receive_response(R, infinity) end, Requests),
    State#state{pending = []}.

pending_since(#state{pending = Requests}) -> Requests.

keep_rejects(_Path, [], _BaseLine, _BaseOffset, _State) ->
    ok;
keep_rejects(Path, Rejects, BaseLine, BaseOffset, #state{name = Name, rejects_path = RejectsPath}) ->
    Lines = [begin
                 Json = #{<<"source">> => Name, <<"file">> => Path, <<"line">> => BaseLine + Line,
                          <<"offset">> => BaseOffset + Offset, <<"reason">> => reason(Reason),
                          <<"text">> => text(Text)},
                 logger:info(#{msg => "rejected line", source => Name, file => Path,
                               line => BaseLine + Line, reason => Reason}),
                 [tally_json:encode(Json), $\n]
             end || {reject, _Format, Line, Offset, Reason, Text} <- Rejects],
    tally_files:append_durably(RejectsPath, Lines).

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
