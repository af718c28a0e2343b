%% @doc Writing files so that a crash leaves either the old or the new
%% content (write a temporary file, sync, rename) or a whole appended block.
-module(tally_files).

-export([write_durably/2, append_durably/2]).

-spec write_durably(file:filename(), iodata()) -> ok | {error, term()}.
write_durably(Path, Bytes) ->
    Tmp = Path ++ ".tmp",
    case file:open(Tmp, [write, raw, binary]) of
        {ok, F} ->
            Written = case file:write(F, Bytes) of ok -> file:sync(F); E -> E end,
            ok = file:close(F),
            case Written of
                ok -> file:rename(Tmp, Path);
                Error -> _ = file:delete(Tmp), Error
            end;
        Error ->
            Error
    end.

-spec append_durably(file:filename(), iodata()) -> ok | {error, term()}.
append_durably(_Path, []) ->
    ok;
append_durably(Path, Bytes) ->
    ok = filelib:ensure_dir(Path),
    case file:open(Path, [append, raw, binary]) of
        {ok, F} ->
            Written = case file:write(F, Bytes) of ok -> file:sync(F); E -> E end,
            ok = file:close(F),
            Written;
        Error ->
            Error
    end.
