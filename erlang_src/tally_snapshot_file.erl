%% @doc Snapshot files of the pure Gleam engine (tally@pure's
%% aggregator_save/load): written whole or not at all, like the Rust
%% engine's (native/interop/src/files.rs): a temporary file beside the
%% target, created with `tally@app@files:file_mode()` (snapshots hold billing
%% data; 0600 unless configured), fsynced,
%% renamed over the target. OTP cannot fsync a directory, which the Rust
%% engines also do after the rename. Errors are POSIX names as binaries,
%% the Rust engine's `snapshot_failed` reasons.
-module(tally_snapshot_file).

-export([write/2, read/1]).

-spec write(binary(), binary()) -> {ok, nil} | {error, binary()}.
write(Path, Bytes) ->
    Tmp = <<Path/binary, ".tmp-", (integer_to_binary(erlang:unique_integer([positive])))/binary>>,
    Result = case file:open(Tmp, [write, exclusive, raw, binary]) of
                 {ok, F} ->
                     Written = case file:change_mode(Tmp, 'tally@app@files':file_mode()) of
                                   ok -> case file:write(F, Bytes) of ok -> file:sync(F); E -> E end;
                                   E -> E
                               end,
                     _ = file:close(F),
                     case Written of
                         ok -> file:rename(Tmp, Path);
                         Error -> Error
                     end;
                 Error ->
                     Error
             end,
    case Result of
        ok -> {ok, nil};
        {error, Reason} -> _ = file:delete(Tmp), {error, reason(Reason)}
    end.

-spec read(binary()) -> {ok, binary()} | {error, binary()}.
read(Path) ->
    case file:read_file(Path) of
        {ok, Bytes} -> {ok, Bytes};
        {error, Reason} -> {error, reason(Reason)}
    end.

%% The file module's reasons here are all atoms (POSIX names, badarg,
%% terminated, system_limit).
-spec reason(file:posix() | badarg | terminated | system_limit) -> binary().
reason(Reason) -> atom_to_binary(Reason).
