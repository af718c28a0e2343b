%% @doc Test support for the Gleam tests of the application's modules
%% (tests/tally/app): temporary directories, plain file calls and the
%% `file_mode` setting, in the shapes Gleam reads; a sys.config as written
%% by an operator, from its text.
-module(tally_app_test_ffi).

-export([tmp_dir/0, mode_of/1, with_file_mode/2, symlink/2, write_file/2, read_file/1]).
-export([with_small_disk/2, key_sets_of/1]).
-export([env/1, nomatch/0, in_empty_dir_with_env/2, started_children/0, start_error/0]).

-spec tmp_dir() -> binary().
tmp_dir() -> list_to_binary(string:trim(os:cmd("mktemp -d -t tally-app-XXXXXX"))).

%% The permission bits of the file at Path.
-spec mode_of(binary()) -> non_neg_integer().
mode_of(Path) ->
    {ok, Info} = file:read_file_info(Path),
    element(8, Info) band 8#777.

%% Runs Body with the application's file_mode set to Mode ({some, M}) or unset (none).
-spec with_file_mode({some, non_neg_integer()} | none, fun(() -> T)) -> T.
with_file_mode(Mode, Body) ->
    Old = application:get_env(tally, file_mode),
    case Mode of
        none -> application:unset_env(tally, file_mode);
        {some, M} -> application:set_env(tally, file_mode, M)
    end,
    try Body()
    after
        case Old of
            undefined -> application:unset_env(tally, file_mode);
            {ok, M0} -> application:set_env(tally, file_mode, M0)
        end
    end.

-spec symlink(binary(), binary()) -> nil.
symlink(Target, Link) -> ok = file:make_symlink(Target, Link), nil.

%% Runs Body with the path of a fresh directory on a file system of
%% Kilobytes (a tmpfs: a disk that fills up part way through a write), and
%% unmounts it after. {error, nil} without running Body when no tmpfs can be
%% mounted (mount needs root).
-spec with_small_disk(pos_integer(), fun((binary()) -> A)) -> {ok, A} | {error, nil}.
with_small_disk(Kilobytes, Body) ->
    Dir = tmp_dir(),
    Mount = lists:flatten(io_lib:format("mount -t tmpfs -o size=~bk tmpfs '~s' 2>&1 && echo mounted",
                                        [Kilobytes, Dir])),
    case lists:suffix("mounted\n", os:cmd(Mount)) of
        false -> {error, nil};
        true ->
            try {ok, Body(Dir)}
            after os:cmd("umount '" ++ binary_to_list(Dir) ++ "'")
            end
    end.

-spec write_file(binary(), binary()) -> nil.
write_file(Path, Bytes) -> ok = file:write_file(Path, Bytes), nil.

-spec read_file(binary()) -> {ok, binary()} | {error, nil}.
read_file(Path) ->
    case file:read_file(Path) of
        {ok, Bytes} -> {ok, Bytes};
        {error, _} -> {error, nil}
    end.

%% "[{shards, 0}, ...]" -> [{<<"shards">>, 0}, ...], as the application
%% environment gives it to tally/app/config.
-spec env(binary()) -> [{binary(), term()}].
env(Text) ->
    {ok, Tokens, _} = erl_scan:string(binary_to_list(Text) ++ "."),
    {ok, Pairs} = erl_parse:parse_term(Tokens),
    [{atom_to_binary(K), V} || {K, V} <- Pairs].

-spec nomatch() -> nomatch.
nomatch() -> nomatch.

-spec in_empty_dir_with_env([{binary(), term()}], fun(() -> term())) -> {term(), [binary()]}.
in_empty_dir_with_env(Env, Body) ->
    WasRunning = lists:keymember(tally, 1, application:which_applications()),
    _ = application:stop(tally),
    %% Loaded (and its modules found) before leaving the directory the
    %% code path is relative to.
    _ = application:load(tally),
    _ = [{module, _} = code:ensure_loaded(M) || M <- element(2, application:get_key(tally, modules))],
    Saved = application:get_all_env(tally),
    [application:unset_env(tally, K) || {K, _} <- Saved],
    [application:set_env(tally, binary_to_atom(K), V) || {K, V} <- Env],
    %% TALLY_* variables of whoever runs the tests would change the configuration.
    SavedOs = [{Name, Value} || V <- os:getenv(), lists:prefix("TALLY_", V),
                                {Name, [$= | Value]} <- [lists:splitwith(fun(C) -> C =/= $= end, V)]],
    [os:unsetenv(Name) || {Name, _} <- SavedOs],
    {ok, Cwd} = file:get_cwd(),
    Dir = string:trim(os:cmd("mktemp -d -t tally-app-XXXXXX")),
    ok = file:set_cwd(Dir),
    try
        Result = Body(),
        {ok, Files} = file:list_dir_all(Dir),
        {Result, [unicode:characters_to_binary(F) || F <- Files]}
    after
        _ = application:stop(tally),
        ok = file:set_cwd(Cwd),
        _ = os:cmd("rm -rf " ++ Dir),
        [application:unset_env(tally, K) || {K, _} <- application:get_all_env(tally)],
        [application:set_env(tally, K, V) || {K, V} <- Saved],
        [os:putenv(Name, Value) || {Name, Value} <- SavedOs],
        case WasRunning of
            true -> {ok, _} = application:ensure_all_started(tally);
            false -> ok
        end
    end.

-spec started_children() -> non_neg_integer().
started_children() ->
    {ok, _} = application:ensure_all_started(tally),
    length(supervisor:which_children(tally_sup)).

-spec start_error() -> binary().
start_error() ->
    {error, {tally, {{bad_config, Text}, _}}} = application:ensure_all_started(tally),
    Text.

%% How many key sets (tally/app/key_set) the process owns.
key_sets_of(Owner) ->
    length([T || T <- ets:all(), ets:info(T, name) =:= tally_key_set, ets:info(T, owner) =:= Owner]).
