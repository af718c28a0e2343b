%% @doc The journal of a port's state, as pure functions over an ETS table:
%% which port operations change state, the operations logged since the last
%% checkpoint, and the checkpoint itself (each live handle's exported state).
%%
%% Handles here are logical: the owner gives them out and maps them to the
%% current OS process's own handles, which change when it is restarted.
-module(tally_port_log).

-export([new_table/0, checkpoint_dir/1, set_owner/2, owner/1, mutating/1, handle_args/1, creates_handle/1,
         created/2, with_logical/3, journal_args/3,
         append/3, entries/1, checkpoint/3, checkpoint_entries/1, checkpoint_size/1, size/1, next_logical/1, next_seq/1]).

-type op() :: atom().
-type entry() :: {Seq :: pos_integer(), op(), Args :: tuple(), Created :: non_neg_integer() | none}.
-export_type([entry/0]).

-spec new_table() -> ets:tid().
new_table() ->
    T = ets:new(tally_port_journal, [ordered_set, public]),
    %% Aggregators' checkpoints are files the port writes here (see tally_port).
    Tmp = case os:getenv("TMPDIR") of false -> "/tmp"; "" -> "/tmp"; D -> D end,
    Dir = filename:join(Tmp, lists:flatten(io_lib:format("tally-port-~s-~b",
                                                         [os:getpid(), erlang:unique_integer([positive])]))),
    true = ets:insert(T, [{checkpoint, #{}}, {next_logical, 1}, {next_seq, 1}, {ops, 0}, {bytes, 0},
                         {checkpoint_bytes, 0}, {dir, Dir}]),
    T.

%% Where the port writes checkpoint files.
-spec checkpoint_dir(ets:tid()) -> file:filename().
checkpoint_dir(T) ->
    [{dir, Dir}] = ets:lookup(T, dir),
    Dir.

%% The owner process currently serving the port (callers look it up here).
-spec set_owner(ets:tid(), pid()) -> ok.
set_owner(T, Pid) ->
    true = ets:insert(T, {owner, Pid}),
    ok.

-spec owner(ets:tid()) -> {ok, pid()} | error.
owner(T) ->
    try ets:lookup(T, owner) of
        [{owner, Pid}] -> {ok, Pid};
        [] -> error
    catch
        error:badarg -> error  % the table is gone with its supervisor
    end.

%% Operations whose success changes the port's state, and so are journaled
%% (the table's `mutates`, through the generated tally_port_ops).
%% `ingest_chunk` is not one: batches are no journaled state. Each batch
%% travels with its recipe (tally_port_batch), so a journaled
%% `aggregator_apply_batch` replays by parsing its chunk again (its key is
%% stale in the new process), never by acting on another batch.
-spec mutating(op()) -> boolean().
mutating(Op) ->
    tally_port_ops:mutating(Op).

%% Operations that return a new handle.
-spec creates_handle(op()) -> boolean().
creates_handle(Op) ->
    tally_port_ops:creates_handle(Op).

%% The physical handle in the reply of an operation that creates one (the
%% reply itself, or a field of a record such as `aggregator_load`'s
%% `usage.Loaded`: generated from the table into tally_port_ops).
-spec created(op(), term()) -> term().
created(Op, Value) ->
    tally_port_ops:created_handle(Op, Value).

%% The caller's reply to an operation that created `Logical`.
-spec with_logical(op(), term(), pos_integer()) -> term().
with_logical(Op, Value, Logical) ->
    tally_port_ops:with_created(Op, Value, Logical).

%% The arguments journaled for a request that succeeded. A snapshot that
%% was loaded is replayed from a copy taken now (beside the checkpoints):
%% its own file is replaced by the shard's next save, and loading that
%% newer state before replaying the operations since would count them twice.
-spec journal_args(ets:tid(), op(), tuple()) -> tuple().
journal_args(T, aggregator_load, {Path}) ->
    Dir = checkpoint_dir(T),
    Copy = filename:join(Dir, "load-" ++ integer_to_list(erlang:unique_integer([positive])) ++ ".snap"),
    case copy_snapshot(Path, Copy) of
        ok ->
            {unicode:characters_to_binary(Copy)};
        Failed ->
            logger:warning(#{msg => "tally_port could not keep a copy of a loaded snapshot for replay",
                             path => Path, reason => Failed}),
            {Path}
    end;
journal_args(_T, _Op, Args) ->
    Args.

%% A snapshot is its base and, when there is one, its log (the deltas
%% saved since the base, `Path.log`): both are copied.
copy_snapshot(Path, Copy) ->
    case 'tally@app@files':ensure_dir(unicode:characters_to_binary(Copy)) =:= {ok, nil}
         andalso file:copy(Path, Copy) of
        {ok, _} ->
            case file:copy(log_path(Path), log_path(Copy)) of
                {ok, _} -> ok;
                {error, enoent} -> ok;
                Error -> Error
            end;
        Failed ->
            Failed
    end.

log_path(Path) -> unicode:characters_to_binary([Path, ".log"]).

%% Positions (1-based) of the arguments that are handles.
-spec handle_args(op()) -> [pos_integer()].
handle_args(Op) ->
    tally_port_ops:handle_args(Op).

-spec next_logical(ets:tid()) -> pos_integer().
next_logical(T) ->
    ets:update_counter(T, next_logical, 1) - 1.

%% Sequence numbers order requests across owner restarts.
-spec next_seq(ets:tid()) -> pos_integer().
next_seq(T) ->
    ets:update_counter(T, next_seq, 1) - 1.

-spec append(ets:tid(), entry(), non_neg_integer()) -> ok.
append(T, {Seq, _, _, _} = Entry, Bytes) ->
    true = ets:insert(T, {{op, Seq}, Entry}),
    _ = ets:update_counter(T, ops, 1),
    _ = ets:update_counter(T, bytes, Bytes),
    ok.

%% The operations logged since the checkpoint, in order.
-spec entries(ets:tid()) -> [entry()].
entries(T) ->
    [E || {{op, _}, E} <- ets:match_object(T, {{op, '_'}, '_'})].

%% Replaces every entry sent before `Seq` with the handles' exported states.
-type state() :: binary() | {file, file:filename(), non_neg_integer()}.
-spec checkpoint(ets:tid(), pos_integer(), #{pos_integer() => {parser | aggregator, state()}}) -> ok.
checkpoint(T, Seq, States) ->
    Old = [{K, E} || {{op, S} = K, E} <- ets:match_object(T, {{op, '_'}, '_'}), S < Seq],
    _ = [ets:delete(T, K) || {K, _} <- Old],
    %% Copies of loaded snapshots are covered by the checkpoint now.
    Dir = unicode:characters_to_binary(checkpoint_dir(T)),
    _ = [[file:delete(Copy), file:delete(log_path(Copy))] || {_, {_, aggregator_load, {Copy}, _}} <- Old,
                              binary:longest_common_prefix([Copy, Dir]) =:= byte_size(Dir)],
    Kept = entries(T),
    true = ets:insert(T, [{checkpoint, States}, {ops, length(Kept)},
                          {bytes, lists:sum([op_bytes(E) || E <- Kept])},
                          {checkpoint_bytes, lists:sum([state_size(S) || {_Kind, S} <- maps:values(States)])}]),
    ok.

%% The handles in the checkpoint and the bytes of their exported states.
-spec checkpoint_size(ets:tid()) -> {non_neg_integer(), non_neg_integer()}.
checkpoint_size(T) ->
    [{checkpoint_bytes, Bytes}] = ets:lookup(T, checkpoint_bytes),
    {map_size(checkpoint_entries(T)), Bytes}.

state_size({file, _Path, Size}) -> Size;
state_size(Bin) when is_binary(Bin) -> byte_size(Bin).

-spec checkpoint_entries(ets:tid()) -> #{pos_integer() => {parser | aggregator, state()}}.
checkpoint_entries(T) ->
    [{checkpoint, States}] = ets:lookup(T, checkpoint),
    States.

%% Operations and bytes logged since the checkpoint: counters, since the
%% owner asks after every reply.
-spec size(ets:tid()) -> {non_neg_integer(), non_neg_integer()}.
size(T) ->
    [{ops, Ops}] = ets:lookup(T, ops),
    [{bytes, Bytes}] = ets:lookup(T, bytes),
    {Ops, Bytes}.

op_bytes({_, _, Args, _}) ->
    erlang:external_size(Args).
