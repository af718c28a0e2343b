%% @doc Snapshot files of the pure Gleam engine (tally@pure's
%% aggregator_save/load), written as the Rust engines write theirs
%% (native/interop/src/files.rs `SnapshotFiles`): a base or a new log whole
%% or not at all (a temporary file beside the target, created with
%% `tally@app@files:file_mode()` (snapshots hold billing data; 0600 unless
%% configured), fsynced, renamed over the target, the directory fsynced so
%% that the rename survives a crash); a delta appended to the log after its
%% last whole delta (a torn tail cut off first) and fsynced. Errors are
%% POSIX names as binaries, the Rust engine's `snapshot_failed` reasons.
-module(tally_snapshot_file).

-export([write/2, append/3, read/1]).

-spec write(binary(), binary()) -> {ok, nil} | {error, binary()}.
write(Path, Bytes) ->
    Tmp = <<Path/binary, ".tmp-", (integer_to_binary(erlang:unique_integer([positive])))/binary>>,
    Result = case file:open(Tmp, [write, exclusive, raw, binary]) of
                 {ok, F} ->
                     Written = steps([fun() -> file:change_mode(Tmp, 'tally@app@files':file_mode()) end,
                                      fun() -> file:write(F, Bytes) end,
                                      fun() -> file:sync(F) end]),
                     _ = file:close(F),
                     steps([fun() -> Written end,
                            fun() -> file:rename(Tmp, Path) end,
                            fun() -> sync_dir(filename:dirname(Path)) end]);
                 Error ->
                     Error
             end,
    case Result of
        ok -> {ok, nil};
        {error, Reason} -> _ = file:delete(Tmp), {error, reason(Reason)}
    end.

%% The directory's entries to disk (after a rename into it).
-spec sync_dir(binary()) -> ok | {error, reason()}.
sync_dir(Dir) ->
    case file:open(Dir, [read, raw, directory]) of
        {ok, D} ->
            Synced = file:sync(D),
            _ = file:close(D),
            Synced;
        Error ->
            Error
    end.

%% Cuts the log at Path to At bytes, appends Bytes, syncs its data. The log
%% must exist (a new one is written whole, with its header, by write/2):
%% an append never makes a log without a header.
-spec append(binary(), non_neg_integer(), binary()) -> {ok, nil} | {error, binary()}.
append(Path, At, Bytes) ->
    Result = case file:read_file_info(Path, [raw]) of
                 {ok, _} ->
                     case file:open(Path, [read, write, raw, binary]) of
                         {ok, F} ->
                             Written = steps([fun() -> position(F, At) end,
                                              fun() -> file:truncate(F) end,
                                              fun() -> file:write(F, Bytes) end,
                                              fun() -> file:datasync(F) end]),
                             Closed = file:close(F),
                             steps([fun() -> Written end, fun() -> Closed end]);
                         Error ->
                             Error
                     end;
                 Error ->
                     Error
             end,
    case Result of
        ok -> {ok, nil};
        {error, Reason} -> {error, reason(Reason)}
    end.

-spec position(file:io_device(), non_neg_integer()) -> ok | {error, reason()}.
position(F, At) ->
    case file:position(F, At) of
        {ok, _} -> ok;
        Error -> Error
    end.

%% Each step in turn, up to the first that fails.
-spec steps([fun(() -> ok | {error, reason()})]) -> ok | {error, reason()}.
steps([]) -> ok;
steps([Step | Rest]) ->
    case Step() of
        ok -> steps(Rest);
        Error -> Error
    end.

-spec read(binary()) -> {ok, binary()} | {error, binary()}.
read(Path) ->
    case file:read_file(Path) of
        {ok, Bytes} -> {ok, Bytes};
        {error, Reason} -> {error, reason(Reason)}
    end.

%% The file module's reasons here are all atoms (POSIX names, badarg,
%% terminated, system_limit).
-type reason() :: file:posix() | badarg | terminated | system_limit.

-spec reason(reason()) -> binary().
reason(Reason) -> atom_to_binary(Reason).
