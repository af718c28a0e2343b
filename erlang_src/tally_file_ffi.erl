%% @doc The file calls of the Gleam application (tally/app/files,
%% tally/app/collector, tally/app/shard), in the shapes Gleam reads:
%% `{ok, X}` or `{error, Reason}` with Reason a POSIX name as a binary
%% (`<<"enospc">>`), never an exception. Files are opened raw and binary.
-module(tally_file_ffi).

-include_lib("kernel/include/file.hrl").

-export([identity/1, open/2, write/2, sync/1, close/1, pread/3, rename/2, delete/1, change_mode/2,
         make_dir/1, is_dir/1, exists/1, stat/1, stat_io/1, list_dir/1, truncate_at/2, cut_torn_line/1, with_append_lock/2, file_size/1,
         file_mode_setting/0]).

-type reason() :: binary().
-type mode() :: read | write | append | exclusive.
%% The facts of a file tally uses: regular or not, identity, size.
-type info() :: {file_info, boolean(), non_neg_integer(), non_neg_integer(), non_neg_integer()}.

-spec open(binary(), [mode()]) -> {ok, file:io_device()} | {error, reason()}.
open(Path, Modes) -> result(file:open(Path, [raw, binary | Modes])).

%% Bytes as iodata (tally/app/files.Parts): the same term.
-spec identity(binary()) -> iodata().
identity(Bytes) -> Bytes.

-spec write(file:io_device(), iodata()) -> {ok, nil} | {error, reason()}.
write(Io, Bytes) -> nil(file:write(Io, Bytes)).

-spec sync(file:io_device()) -> {ok, nil} | {error, reason()}.
sync(Io) -> nil(file:sync(Io)).

-spec close(file:io_device()) -> {ok, nil} | {error, reason()}.
close(Io) -> nil(file:close(Io)).

%% Up to Len bytes from Offset; fewer (or none) at the end of the file.
-spec pread(file:io_device(), non_neg_integer(), non_neg_integer()) -> {ok, binary()} | {error, reason()}.
pread(_Io, _Offset, 0) -> {ok, <<>>};
pread(Io, Offset, Len) ->
    case file:pread(Io, Offset, Len) of
        {ok, Bytes} -> {ok, Bytes};
        eof -> {ok, <<>>};
        {error, Reason} -> {error, reason(Reason)}
    end.

-spec rename(binary(), binary()) -> {ok, nil} | {error, reason()}.
rename(From, To) -> nil(file:rename(From, To)).

-spec delete(binary()) -> {ok, nil} | {error, reason()}.
delete(Path) -> nil(file:delete(Path)).

-spec change_mode(binary(), non_neg_integer()) -> {ok, nil} | {error, reason()}.
change_mode(Path, Mode) -> nil(file:change_mode(Path, Mode)).

%% Makes one directory; one that is there already is fine.
-spec make_dir(binary()) -> {ok, nil} | {error, reason()}.
make_dir(Path) ->
    case file:make_dir(Path) of
        {error, eexist} -> {ok, nil};
        Other -> nil(Other)
    end.

-spec is_dir(binary()) -> boolean().
is_dir(Path) -> filelib:is_dir(Path).

%% Whether anything is at Path (a dangling link counts).
-spec exists(binary()) -> boolean().
exists(Path) -> file:read_link_info(Path, [raw]) =/= {error, enoent}.

%% The file at Path, following links.
-spec stat(binary()) -> {ok, info()} | {error, reason()}.
stat(Path) -> info(file:read_file_info(Path, [raw])).

%% The file an open device reads (it keeps its identity when renamed).
-spec stat_io(file:io_device()) -> {ok, info()} | {error, reason()}.
stat_io(Io) -> info(file:read_file_info(Io, [raw])).

%% The names in a directory, sorted.
-spec list_dir(binary()) -> {ok, [binary()]} | {error, reason()}.
list_dir(Path) ->
    case file:list_dir(Path) of
        {ok, Names} -> {ok, lists:sort([unicode:characters_to_binary(N) || N <- Names])};
        {error, Reason} -> {error, reason(Reason)}
    end.

%% Cuts the file at Path back to Length bytes, durably (nothing to do when
%% it is shorter or absent).
-spec truncate_at(binary(), non_neg_integer()) -> {ok, nil} | {error, reason()}.
truncate_at(Path, Length) ->
    case file_size(Path) > Length of
        false ->
            {ok, nil};
        true ->
            case file:open(Path, [read, write, raw, binary]) of
                {ok, F} ->
                    Done = case file:position(F, Length) of
                               {ok, _} -> case file:truncate(F) of ok -> file:sync(F); E -> E end;
                               E -> E
                           end,
                    _ = file:close(F),
                    nil(Done);
                Error ->
                    nil(Error)
            end
    end.

%% Runs Append holding this VM's lock on Path (global's lock service, on
%% this node only): one append to a file at a time.
-spec with_append_lock(binary(), fun(() -> R)) -> R.
with_append_lock(Path, Append) ->
    global:trans({{tally_append, Path}, self()}, Append, [node()]).

%% Cuts a JSON Lines file back to its last newline, durably, when it does
%% not end with one (an append a crash cut short); the bytes cut off (0 for
%% a whole or absent file).
-spec cut_torn_line(binary()) -> {ok, non_neg_integer()} | {error, reason()}.
cut_torn_line(Path) ->
    case file:open(Path, [read, write, raw, binary]) of
        {ok, F} ->
            Done = case file:position(F, eof) of
                       {ok, Size} -> cut_back(F, Size, Size);
                       E -> E
                   end,
            _ = file:close(F),
            result(Done);
        {error, enoent} ->
            {ok, 0};
        Error ->
            result(Error)
    end.

%% Reads back from End in 64 KiB steps to the last newline.
cut_back(F, 0, Size) ->
    truncated(F, 0, Size);
cut_back(F, End, Size) ->
    Step = min(End, 65536),
    case file:pread(F, End - Step, Step) of
        {ok, Bin} when End =:= Size, binary_part(Bin, byte_size(Bin) - 1, 1) =:= <<"\n">> ->
            {ok, 0};
        {ok, Bin} ->
            case binary:matches(Bin, <<"\n">>) of
                [] -> cut_back(F, End - Step, Size);
                Matches -> {At, 1} = lists:last(Matches), truncated(F, End - Step + At + 1, Size)
            end;
        eof -> {ok, 0};
        E -> E
    end.

truncated(F, Length, Size) ->
    case file:position(F, Length) of
        {ok, _} ->
            case file:truncate(F) of
                ok -> case file:sync(F) of ok -> {ok, Size - Length}; E -> E end;
                E -> E
            end;
        E -> E
    end.

%% The size of the file at Path, 0 when there is none.
-spec file_size(binary()) -> non_neg_integer().
file_size(Path) -> filelib:file_size(Path).

%% The `file_mode` setting of the tally application, when it is one.
-spec file_mode_setting() -> {ok, non_neg_integer()} | {error, nil}.
file_mode_setting() ->
    case application:get_env(tally, file_mode) of
        {ok, Mode} when is_integer(Mode), Mode >= 0, Mode =< 8#777 -> {ok, Mode};
        _ -> {error, nil}
    end.

info({ok, #file_info{type = Type, major_device = Device, inode = Inode, size = Size}}) ->
    {ok, {file_info, Type =:= regular, Device, Inode, Size}};
info({error, Reason}) ->
    {error, reason(Reason)}.

result({ok, X}) -> {ok, X};
result({error, Reason}) -> {error, reason(Reason)}.

nil(ok) -> {ok, nil};
nil({error, Reason}) -> {error, reason(Reason)}.

%% The file module's reasons are POSIX atoms, badarg, terminated or
%% system_limit; anything else is printed.
-spec reason(term()) -> reason().
reason(Reason) when is_atom(Reason) -> atom_to_binary(Reason);
reason(Reason) -> unicode:characters_to_binary(io_lib:format("~0p", [Reason])).
