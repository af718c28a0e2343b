%% @doc Writing files so that a crash leaves either the old or the new
%% content (write a temporary file, sync, rename) or a whole appended block.
%%
%% Every file written here holds billing data (invoices, outbox items,
%% snapshots, rejected lines, late events), so it is created with the
%% `file_mode` of the `tally` application (default 8#600, owner only; 8#640
%% lets a group read it) before any byte goes in, and directories made for
%% it get the same bits plus search (8#700 / 8#750). A file that already
%% exists keeps its mode.
%%
%% Nothing here raises on an I/O failure: a full disk, a read-only file
%% system or a missing permission comes back as `{error, Reason}` (for
%% example `{error, enospc}`), with any temporary file removed, so a caller
%% can report it and retry instead of crashing.
-module(tally_files).

-export([write_durably/2, append_durably/2, ensure_dir/1, file_mode/0, dir_mode/0]).

-define(DEFAULT_FILE_MODE, 8#600).

-spec write_durably(file:filename(), iodata()) -> ok | {error, term()}.
write_durably(Path, Bytes) ->
    Tmp = Path ++ ".tmp",
    Result = case ensure_dir(Path) of
                 ok -> with_file(Tmp, [write, raw, binary], Bytes);
                 Error -> Error
             end,
    case Result of
        ok ->
            case file:rename(Tmp, Path) of
                ok -> ok;
                RenameError -> _ = file:delete(Tmp), RenameError
            end;
        _ ->
            _ = file:delete(Tmp),
            Result
    end.

-spec append_durably(file:filename(), iodata()) -> ok | {error, term()}.
append_durably(_Path, []) ->
    ok;
append_durably(Path, Bytes) ->
    case ensure_dir(Path) of
        ok -> with_file(Path, [append, raw, binary], Bytes);
        Error -> Error
    end.

%% Makes the parent directories of Path (mode dir_mode() for those it makes).
-spec ensure_dir(file:filename()) -> ok | {error, term()}.
ensure_dir(Path) ->
    Parent = filename:dirname(Path),
    case filelib:is_dir(Parent) of
        true ->
            ok;
        false ->
            case ensure_dir(Parent) of
                ok ->
                    case file:make_dir(Parent) of
                        ok -> file:change_mode(Parent, dir_mode());
                        {error, eexist} -> ok;
                        Error -> Error
                    end;
                Error ->
                    Error
            end
    end.

%% The mode of files tally creates: the `file_mode` app env, 8#600 by default.
-spec file_mode() -> non_neg_integer().
file_mode() ->
    case application:get_env(tally, file_mode) of
        {ok, Mode} when is_integer(Mode), Mode >= 0, Mode =< 8#777 -> Mode;
        _ -> ?DEFAULT_FILE_MODE
    end.

%% Directories: the file mode, with search wherever it gives read.
-spec dir_mode() -> non_neg_integer().
dir_mode() ->
    Mode = file_mode(),
    Mode bor ((Mode band 8#444) bsr 2).

%% Opens, sets the mode of a file it creates (before any data goes in; a
%% file that was there keeps the mode its owner gave it), writes, syncs,
%% closes.
with_file(Path, Modes, Bytes) ->
    Created = file:read_link_info(Path) =:= {error, enoent},
    case file:open(Path, Modes) of
        {ok, F} ->
            Moded = case Created of
                        true -> file:change_mode(Path, file_mode());
                        false -> ok
                    end,
            Written = case Moded of
                          ok -> case file:write(F, Bytes) of ok -> file:sync(F); E -> E end;
                          E -> E
                      end,
            Closed = file:close(F),
            case {Written, Closed} of
                {ok, ok} -> ok;
                {ok, CloseError} -> CloseError;
                {WriteError, _} -> WriteError
            end;
        Error ->
            Error
    end.
