%% tally_files: the modes of the files tally creates, and errors (never a
%% crash) when the disk is full.
-module(tally_files_tests).
-include_lib("eunit/include/eunit.hrl").

tmp_dir() -> string:trim(os:cmd("mktemp -d -t tally-files-XXXXXX")).

mode(Path) ->
    {ok, Info} = file:read_file_info(Path),
    element(8, Info) band 8#777.

with_file_mode(Mode, Fun) ->
    Old = application:get_env(tally, file_mode),
    case Mode of default -> application:unset_env(tally, file_mode); _ -> application:set_env(tally, file_mode, Mode) end,
    try Fun()
    after
        case Old of undefined -> application:unset_env(tally, file_mode); {ok, M} -> application:set_env(tally, file_mode, M) end
    end.

files_and_directories_are_created_for_the_owner_only_by_default_test() ->
    with_file_mode(default, fun() ->
        Dir = tmp_dir(),
        Snapshot = filename:join([Dir, "shards", "0.snapshot"]),
        Invoices = filename:join([Dir, "sink", "invoices.jsonl"]),
        ok = tally_files:write_durably(Snapshot, <<"state">>),
        ok = tally_files:append_durably(Invoices, <<"{}\n">>),
        ok = tally_files:append_durably(Invoices, <<"{}\n">>),
        ?assertEqual(8#600, mode(Snapshot)),
        ?assertEqual(8#600, mode(Invoices)),
        ?assertEqual(8#700, mode(filename:dirname(Snapshot))),
        ?assertEqual(8#700, mode(filename:dirname(Invoices))),
        ?assertEqual({ok, <<"{}\n{}\n">>}, file:read_file(Invoices))
    end).

file_mode_setting_gives_a_group_read_access_test() ->
    with_file_mode(8#640, fun() ->
        Dir = tmp_dir(),
        Item = filename:join([Dir, "outbox", "0.item"]),
        ok = tally_files:write_durably(Item, <<"x">>),
        ?assertEqual(8#640, mode(Item)),
        ?assertEqual(8#750, mode(filename:dirname(Item)))
    end).

a_file_that_already_exists_keeps_its_mode_test() ->
    Dir = tmp_dir(),
    Path = filename:join(Dir, "rejects.jsonl"),
    ok = file:write_file(Path, <<>>),
    ok = file:change_mode(Path, 8#604),
    ok = tally_files:append_durably(Path, <<"line\n">>),
    ?assertEqual(8#604, mode(Path)).

%% /dev/full answers every write with ENOSPC: a link to it stands for a full disk.
a_full_disk_is_an_error_not_a_crash_test() ->
    Dir = tmp_dir(),
    Appended = filename:join(Dir, "invoices.jsonl"),
    ok = file:make_symlink("/dev/full", Appended),
    ?assertEqual({error, enospc}, tally_files:append_durably(Appended, <<"line\n">>)),
    Written = filename:join(Dir, "closed.term"),
    ok = file:write_file(Written, <<"old">>),
    ok = file:make_symlink("/dev/full", Written ++ ".tmp"),
    ?assertEqual({error, enospc}, tally_files:write_durably(Written, <<"new">>)),
    %% The old content stands and the temporary file is gone.
    ?assertEqual({ok, <<"old">>}, file:read_file(Written)),
    ?assertEqual({error, enoent}, file:read_link_info(Written ++ ".tmp")).

a_directory_that_cannot_be_made_is_an_error_not_a_crash_test() ->
    Dir = tmp_dir(),
    Blocker = filename:join(Dir, "shards"),
    ok = file:write_file(Blocker, <<>>),
    ?assertMatch({error, _}, tally_files:write_durably(filename:join(Blocker, "0.snapshot"), <<"x">>)),
    ?assertMatch({error, _}, tally_files:append_durably(filename:join(Blocker, "late-0.jsonl"), <<"x">>)).
