%% @doc The durable outbox between billing and the bus. Items are stored in
%% batches: one file per batch of up to ?BATCH_ITEMS items (or
%% ?BATCH_BYTES), written to a temporary name, synced, renamed, and the
%% directory synced once per put, so a put costs one fsync per batch, not
%% per item, and an item is either whole on disk or absent. The publisher
%% reads the oldest batch and acknowledges what the sink acknowledged; a
%% batch file is removed once all its items are acknowledged. After a crash
%% or restart every item not acknowledged is published again (the sinks
%% deduplicate by key).
%%
%% The outbox also remembers what was acknowledged, durably: each
%% acknowledged key's digest (the first 16 bytes of its SHA-256) is appended
%% to `acked/GROUP.acked`, GROUP being the key's last two `/` fields (an
%% invoice line's `PERIOD/vVERSION`). A put skips a key acknowledged before,
%% however long ago, and a key already waiting; so closing a period again
%% publishes nothing twice, except a line whose acknowledgement was lost in
%% a crash (at-least-once delivery; the consumer upserts by key). Memory: a
%% put holds the digests of its groups while it runs (16 bytes a line on
%% disk, about 60 in memory); between puts the outbox holds only the batch
%% being published.
%%
%% An item the sink refuses for good (a payload over the server's
%% `max_payload`) is parked: appended to `parked.jsonl` (key, subject,
%% reason, payload) and removed from the outbox without being remembered as
%% acknowledged, so the items after it flow, and a later close (once the
%% operator has raised the limit) puts it again.
-module(tally_outbox).
-behaviour(gen_server).

-export([start_link/1, put/2, peek/2, peek_batch/2, ack/2, ack_batch/2, park/3, size/1, notify/2, acked/2,
         items/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(BATCH_ITEMS, 5000).
-define(BATCH_BYTES, 4 * 1024 * 1024).

-type item() :: {Key :: binary(), Subject :: binary(), Payload :: binary()}.
%% A batch the engine wrote (`aggregator_close_written`): Count items, each
%% one's key a line of Ids and its payload the same line of Lines.
-type written_batch() :: {written_batch, Count :: pos_integer(), Ids :: binary(), Lines :: binary()}.
-type written() :: {written, Subject :: binary(), written_batch()}.
-export_type([item/0, written_batch/0, written/0]).

-record(state, {dir :: file:filename(),
                next_seq :: non_neg_integer(),
                %% batches waiting, oldest first: {Seq, File, Items left}
                batches = queue:new() :: queue:queue({non_neg_integer(), file:filename(), non_neg_integer()}),
                size = 0 :: non_neg_integer(),
                %% the oldest batch's items not yet acknowledged, in order; or
                %% the oldest batch whole, as the engine wrote it
                head = none :: none | [item()] | written(),
                listeners = [] :: [pid()]}).

-spec start_link(#{dir := file:filename(), name => atom()}) -> {ok, pid()} | {error, term()}.
start_link(#{name := Name} = Opts) -> gen_server:start_link({local, Name}, ?MODULE, Opts, []);
start_link(Opts) -> gen_server:start_link(?MODULE, Opts, []).

%% Stores the items durably; returns once they are on disk. No timeout: a
%% put's work grows with its items (the caller is monitored by the call, so
%% a dead outbox still ends it). A written batch is stored as it is, one
%% file, when none of its keys can be waiting or acknowledged already
%% (nothing waits, nothing of its period and version was acknowledged);
%% else it is taken apart into items and checked like them.
-spec put(pid() | atom(), [item() | written()]) -> ok | {error, term()}.
put(Outbox, Items) -> gen_server:call(Outbox, {put, Items}, infinity).

%% Up to N of the oldest items, without removing them.
-spec peek(pid() | atom(), pos_integer()) -> [item()].
peek(Outbox, N) -> gen_server:call(Outbox, {peek, N}, infinity).

%% The oldest batch: a written batch whole when it is one none of whose
%% items was acknowledged yet (for `ack_batch/2`), else up to N items.
-spec peek_batch(pid() | atom(), pos_integer()) -> [item()] | written().
peek_batch(Outbox, N) -> gen_server:call(Outbox, {peek_batch, N}, infinity).

%% Acknowledges every item of the written batch whose ids are `Ids` (from
%% `peek_batch/2`): its keys remembered, its file removed, with no item
%% taken apart but to digest its key.
-spec ack_batch(pid() | atom(), binary()) -> ok | {error, term()}.
ack_batch(Outbox, Ids) -> gen_server:call(Outbox, {ack_batch, Ids}, infinity).

%% Removes acknowledged items and remembers their keys as acknowledged.
-spec ack(pid() | atom(), [binary()]) -> ok | {error, term()}.
ack(Outbox, Keys) -> gen_server:call(Outbox, {ack, Keys}, infinity).

%% Moves the waiting items with these keys to `parked.jsonl` with the
%% reason they cannot be published (not remembered as acknowledged).
-spec park(pid() | atom(), [binary()], binary()) -> ok | {error, term()}.
park(Outbox, Keys, Why) -> gen_server:call(Outbox, {park, Keys, Why}, infinity).

%% Items waiting.
-spec size(pid() | atom()) -> non_neg_integer().
size(Outbox) -> gen_server:call(Outbox, size, infinity).

%% Pid gets `outbox_ready` whenever items are put.
-spec notify(pid() | atom(), pid()) -> ok.
notify(Outbox, Pid) -> gen_server:call(Outbox, {notify, Pid}).

%% Whether the key was acknowledged once (from the durable memory).
-spec acked(pid() | atom(), binary()) -> boolean().
acked(Outbox, Key) -> gen_server:call(Outbox, {acked, Key}, infinity).

-spec init(map()) -> {ok, #state{}} | {stop, term()}.
init(#{dir := Dir}) ->
    case tally_files:ensure_dir(filename:join([Dir, "acked", "x"])) of
        ok -> load(Dir);
        {error, Reason} -> {stop, {outbox_dir, Dir, Reason}}
    end.

load(Dir) ->
    %% A temporary file is a put that never finished: it was not acknowledged to anyone.
    _ = [file:delete(filename:join(Dir, F)) || F <- filelib:wildcard("*.tmp", Dir)],
    Batches = lists:sort([{Seq, F, Count} || F <- filelib:wildcard("*.batch", Dir),
                                             {Seq, Count} <- [parse_name(F)]]),
    Next = case Batches of [] -> 0; _ -> element(1, lists:last(Batches)) + 1 end,
    State = #state{dir = Dir, next_seq = Next, batches = queue:from_list(Batches),
                   size = lists:sum([C || {_, _, C} <- Batches])},
    %% The oldest batch may be acknowledged in part (a crash between the
    %% sink's ack and the batch's removal): what was acknowledged stays done.
    {ok, load_head(State, fun(Items) -> not_acked(Dir, Items) end)}.

%% The head's items (a written head taken apart).
head_items(none) -> [];
head_items({written, _, _} = W) -> items(W);
head_items(Items) -> Items.

-spec handle_call(term(), gen_server:from(), #state{}) -> {reply, term(), #state{}}.
handle_call({put, Items}, _From, State) ->
    case put_all(Items, State) of
        {ok, State1} ->
            _ = [L ! outbox_ready || L <- State1#state.listeners],
            {reply, ok, State1};
        {error, Reason, State1} ->
            {reply, {error, Reason}, State1}
    end;
handle_call({peek, N}, _From, State) ->
    State1 = load_head(State, all),
    {reply, lists:sublist(head_items(State1#state.head), N), State1};
handle_call({peek_batch, N}, _From, State) ->
    State1 = load_head(State, all),
    case State1#state.head of
        {written, _, _} = W -> {reply, W, State1};
        Head -> {reply, lists:sublist(head_items(Head), N), State1}
    end;
handle_call({ack_batch, Ids}, _From, #state{dir = Dir, head = {written, _, {written_batch, Count, Ids, _}}} = State) ->
    case remember_group(Dir, group(first_line(Ids)), binary:split(Ids, <<"\n">>, [global, trim_all])) of
        ok -> {reply, ok, drop_head(State#state{size = State#state.size - Count})};
        {error, Reason} -> {reply, {error, Reason}, State}
    end;
handle_call({ack_batch, Ids}, From, State) ->
    %% Not the head any more: as its keys.
    handle_call({ack, binary:split(Ids, <<"\n">>, [global, trim_all])}, From, State);
handle_call({ack, Keys}, _From, State) ->
    case ack_keys(Keys, State) of
        {ok, State1} -> {reply, ok, State1};
        {error, Reason} -> {reply, {error, Reason}, State}
    end;
handle_call({park, Keys, Why}, _From, State) ->
    case park_keys(Keys, Why, State) of
        {ok, State1} -> {reply, ok, State1};
        {error, Reason} -> {reply, {error, Reason}, State}
    end;
handle_call(size, _From, State) ->
    {reply, State#state.size, State};
handle_call({notify, Pid}, _From, State) ->
    {reply, ok, State#state{listeners = [Pid | lists:delete(Pid, State#state.listeners)]}};
handle_call({acked, Key}, _From, #state{dir = Dir} = State) ->
    {reply, is_map_key(digest(Key), acked_set(Dir, group(Key))), State};
handle_call(_Other, _From, State) ->
    {reply, {error, unknown_call}, State}.

-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(_Msg, State) -> {noreply, State}.

-spec handle_info(term(), #state{}) -> {noreply, #state{}}.
handle_info(_Msg, State) -> {noreply, State}.

%%% Putting

put_all(Entries, #state{dir = Dir} = State) ->
    case lists:all(fun valid/1, Entries) of
        false -> {error, bad_item, State};
        true ->
            %% Whole when nothing waits and nothing of its group (an invoice
            %% line's period and version, one per written batch) was acknowledged.
            {Whole, Items} = lists:partition(
                               fun({written, _, {written_batch, _, Ids, _}}) ->
                                       State#state.size =:= 0 andalso
                                           map_size(acked_set(Dir, group(first_line(Ids)))) =:= 0;
                                  (_) -> false
                               end, Entries),
            Plain = lists:append([case E of {written, _, _} -> items(E); _ -> [E] end || E <- Items]),
            Fresh = fresh(Plain, Dir, waiting_keys(Plain, State)),
            case write_written(Whole, State) of
                {ok, State1} -> write_batches(Fresh, State1, Whole =/= []);
                Error -> Error
            end
    end.

valid({written, S, {written_batch, N, Ids, Lines}}) ->
    is_binary(S) andalso is_integer(N) andalso N > 0 andalso is_binary(Ids) andalso is_binary(Lines);
valid({K, S, P}) -> is_binary(K) andalso is_binary(S) andalso is_binary(P);
valid(_) -> false.

first_line(Bin) ->
    case binary:match(Bin, <<"\n">>) of
        {At, 1} -> binary:part(Bin, 0, At);
        nomatch -> Bin
    end.

%% A written batch's items (a batch file read back, a batch that must be
%% checked item by item, a sink that publishes item by item).
-spec items(written()) -> [item()].
items({written, Subject, {written_batch, _, Ids, Lines}}) ->
    lists:zipwith(fun(K, P) -> {K, Subject, P} end,
                  binary:split(Ids, <<"\n">>, [global, trim_all]),
                  binary:split(Lines, <<"\n">>, [global, trim_all])).

%% Written batches, each one file as it is (no item taken apart).
write_written([], State) ->
    {ok, State};
write_written([{written, _, {written_batch, Count, _, _}} = W | Rest], #state{dir = Dir, next_seq = Seq} = State) ->
    Name = lists:flatten(io_lib:format("~16.16.0b-~b.batch", [Seq, Count])),
    case tally_files:write_durably(filename:join(Dir, Name), term_to_binary(W)) of
        ok ->
            write_written(Rest, State#state{next_seq = Seq + 1, size = State#state.size + Count,
                                            batches = queue:in({Seq, Name, Count}, State#state.batches)});
        {error, Reason} ->
            {error, Reason, State}
    end.

%% The items whose key is neither acknowledged before, nor waiting, nor an
%% earlier item of the same put.
fresh(Items, Dir, Waiting) ->
    Grouped = [{group(K), I} || {K, _, _} = I <- Items],
    Acked = maps:from_list([{G, acked_set(Dir, G)} || G <- lists:usort([G || {G, _} <- Grouped])]),
    {Out, _} = lists:foldl(
                 fun({G, {K, _, _} = I}, {Acc, Seen}) ->
                         case is_map_key(K, Seen) orelse is_map_key(K, Waiting)
                             orelse was_acked(K, maps:get(G, Acked)) of
                             true -> {Acc, Seen};
                             false -> {[I | Acc], Seen#{K => true}}
                         end
                 end, {[], #{}}, Grouped),
    lists:reverse(Out).

%% (No digest to compute for a period nothing was acknowledged of yet.)
was_acked(_Key, Set) when map_size(Set) =:= 0 -> false;
was_acked(Key, Set) -> is_map_key(digest(Key), Set).

%% The keys waiting in the outbox, read from its batches (a put is rare
%% and its work is already proportional to the lines; nothing is held
%% between puts). Skipped when nothing waits.
waiting_keys(_Items, #state{size = 0}) ->
    #{};
waiting_keys(_Items, #state{dir = Dir, batches = Batches, head = Head}) ->
    Rest = case Head of none -> queue:to_list(Batches); _ -> tl(queue:to_list(Batches)) end,
    FromHead = [K || {K, _, _} <- head_items(Head)],
    maps:from_keys(FromHead ++ [K || {_, F, _} <- Rest, {K, _, _} <- read_batch(Dir, F)], true).

write_batches([], State, false) ->
    {ok, State};
write_batches(Items, #state{dir = Dir} = State, _) ->
    case write_each(split(Items, 0, 0, [], []), State) of
        {ok, State1} ->
            case sync_dir(Dir) of
                ok -> {ok, State1};
                {error, Reason} -> {error, {sync_dir, Reason}, State1}
            end;
        Error ->
            Error
    end.

write_each([], State) ->
    {ok, State};
write_each([Batch | Rest], #state{dir = Dir, next_seq = Seq} = State) ->
    Count = length(Batch),
    Name = lists:flatten(io_lib:format("~16.16.0b-~b.batch", [Seq, Count])),
    case tally_files:write_durably(filename:join(Dir, Name), term_to_binary(Batch)) of
        ok ->
            write_each(Rest, State#state{next_seq = Seq + 1, size = State#state.size + Count,
                                         batches = queue:in({Seq, Name, Count}, State#state.batches)});
        {error, Reason} ->
            {error, Reason, State}
    end.

%% Items cut into batches of at most ?BATCH_ITEMS items and ?BATCH_BYTES.
split([], _N, _Bytes, [], Acc) -> lists:reverse(Acc);
split([], _N, _Bytes, Cur, Acc) -> lists:reverse([lists:reverse(Cur) | Acc]);
split(Items, N, Bytes, Cur, Acc) when Cur =/= [], (N >= ?BATCH_ITEMS orelse Bytes >= ?BATCH_BYTES) ->
    split(Items, 0, 0, [], [lists:reverse(Cur) | Acc]);
split([{K, S, P} = I | Rest], N, Bytes, Cur, Acc) ->
    split(Rest, N + 1, Bytes + byte_size(K) + byte_size(S) + byte_size(P), [I | Cur], Acc).

%%% Publishing

load_head(#state{head = none, batches = Batches, dir = Dir} = State, Filter) ->
    case queue:peek(Batches) of
        empty ->
            State;
        {value, {_Seq, File, Count}} ->
            Raw = read_raw(Dir, File),
            %% `all` (peeking): the batch as stored; else only what Filter keeps.
            Items = case Filter of all -> Raw; _ -> Filter(as_items(Raw)) end,
            case Items of
                {written, _, _} -> State#state{head = Raw};
                [] -> load_head(drop_head(State#state{size = State#state.size - Count}), Filter);
                _ when is_tuple(Raw), length(Items) =:= Count ->
                    State#state{head = Raw};  % a written batch none of whose items was acknowledged: whole
                _ -> State#state{head = Items, size = State#state.size - Count + length(Items)}
            end
    end;
load_head(State, _Filter) ->
    State.

drop_head(#state{dir = Dir, batches = Batches} = State) ->
    {{value, {_, File, _}}, Rest} = queue:out(Batches),
    ok = file:delete(filename:join(Dir, File)),
    State#state{batches = Rest, head = none}.

ack_keys([], State) ->
    {ok, State};
ack_keys(Keys, #state{dir = Dir} = State) ->
    case remember(Dir, Keys) of
        ok -> {ok, remove(Keys, State)};
        {error, _} = Error -> Error
    end.

park_keys(Keys, Why, #state{dir = Dir, head = Head} = State) when Head =/= none ->
    Wanted = maps:from_keys(Keys, true),
    Lines = [[tally_json:encode(#{<<"key">> => K, <<"subject">> => S, <<"reason">> => Why,
                                  <<"payload">> => P}), $\n]
             || {K, S, P} <- head_items(Head), is_map_key(K, Wanted)],
    case tally_files:append_durably(filename:join(Dir, "parked.jsonl"), Lines) of
        ok -> {ok, remove(Keys, State)};
        {error, _} = Error -> Error
    end;
park_keys(_Keys, _Why, State) ->
    {ok, State}.

%% Removes the keys' items from the head (the batch file once it is empty).
remove(_Keys, #state{head = none} = State) ->
    State;
remove(Keys, #state{head = {written, _, _} = W} = State) ->
    remove(Keys, State#state{head = items(W)});
remove(Keys, #state{head = Head} = State) ->
    Left = drop_acked(Head, maps:from_keys(Keys, true)),
    State1 = State#state{head = Left, size = State#state.size - (length(Head) - length(Left))},
    case Left of
        [] -> drop_head(State1);
        _ -> State1
    end.

%% Acknowledgements come mostly for the first items, in order.
drop_acked([{K, _, _} | Rest] = Items, Done) ->
    case is_map_key(K, Done) of
        true -> drop_acked(Rest, Done);
        false -> [I || {Key, _, _} = I <- Items, not is_map_key(Key, Done)]
    end;
drop_acked([], _Done) ->
    [].

%%% The memory of acknowledged keys

group(Key) ->
    case binary:matches(Key, <<"/">>) of
        [_ | _] = Slashes when length(Slashes) >= 2 ->
            [{Last, 1}, {Before, 1} | _] = lists:reverse(Slashes),
            Period = binary:part(Key, Before + 1, Last - Before - 1),
            Version = binary:part(Key, Last + 1, byte_size(Key) - Last - 1),
            safe(<<Period/binary, "-", Version/binary>>);
        _ ->
            <<"other">>
    end.

%% A file name from key text: other bytes become '_' (a group never
%% escapes the directory).
safe(Bin) ->
    << <<(case C of
              _ when C >= $a, C =< $z; C >= $A, C =< $Z; C >= $0, C =< $9; C =:= $-; C =:= $_ -> C;
              _ -> $_
          end)>> || <<C>> <= Bin >>.

digest(Key) ->
    <<D:16/binary, _/binary>> = crypto:hash(sha256, Key),
    D.

acked_path(Dir, Group) -> filename:join([Dir, "acked", <<Group/binary, ".acked">>]).

acked_set(Dir, Group) ->
    case file:read_file(acked_path(Dir, Group)) of
        {ok, Bin} ->
            %% A crash mid-append may leave a partial digest at the end: ignored.
            Whole = byte_size(Bin) - byte_size(Bin) rem 16,
            maps:from_keys([D || <<D:16/binary>> <= binary:part(Bin, 0, Whole)], true);
        {error, enoent} ->
            #{}
    end.

%% Appends the digests of keys of one group to its file, synced.
remember_group(Dir, Group, Keys) ->
    remember_each(Dir, [{Group, [digest(K) || K <- Keys]}]).

%% Appends the keys' digests to their groups' files, synced.
remember(Dir, Keys) ->
    ByGroup = lists:foldl(fun(K, Acc) -> maps:update_with(group(K), fun(L) -> [digest(K) | L] end,
                                                          [digest(K)], Acc) end, #{}, Keys),
    remember_each(Dir, maps:to_list(ByGroup)).

remember_each(_Dir, []) ->
    ok;
remember_each(Dir, [{Group, Digests} | Rest]) ->
    Path = acked_path(Dir, Group),
    New = not filelib:is_regular(Path),
    case tally_files:append_durably(Path, Digests) of
        ok when New -> _ = sync_dir(filename:dirname(Path)), remember_each(Dir, Rest);
        ok -> remember_each(Dir, Rest);
        Error -> Error
    end.

not_acked(_Dir, []) ->
    [];
not_acked(Dir, Items) ->
    Groups = lists:usort([group(K) || {K, _, _} <- Items]),
    Acked = maps:from_list([{G, acked_set(Dir, G)} || G <- Groups]),
    [I || {K, _, _} = I <- Items, not is_map_key(digest(K), maps:get(group(K), Acked))].

%%% Files

read_batch(Dir, File) ->
    as_items(read_raw(Dir, File)).

read_raw(Dir, File) ->
    {ok, Bin} = file:read_file(filename:join(Dir, File)),
    binary_to_term(Bin, [safe]).

as_items({written, _, _} = W) -> items(W);
as_items(Items) -> Items.

parse_name(File) ->
    [Seq, Count] = string:split(filename:basename(File, ".batch"), "-"),
    {list_to_integer(Seq, 16), list_to_integer(Count)}.

%% A rename is durable once its directory is synced.
sync_dir(Dir) ->
    case prim_file:open(Dir, [read, directory]) of
        {ok, F} ->
            R = prim_file:sync(F),
            _ = prim_file:close(F),
            R;
        {error, _} = Error ->
            Error
    end.
