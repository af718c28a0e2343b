%% @doc Test support for the Gleam tests of the outbox and the closer
%% (tests/tally/app): text search, fresh temporary directories, file listings.
-module(tally_outbox_test_ffi).

-export([contains/2, tmp_dir/1, wildcard/2, file_size/1, write_file/2, read_text/1, kill/1, plans_without/3]).

-spec contains(binary(), binary()) -> boolean().
contains(Text, Part) -> binary:match(Text, Part) =/= nomatch.

%% A new empty directory under TMPDIR, its name starting with Prefix.
-spec tmp_dir(binary()) -> binary().
tmp_dir(Prefix) ->
    list_to_binary(string:trim(os:cmd("mktemp -d -t tally-" ++ binary_to_list(Prefix) ++ "-XXXXXX"))).

%% The names in Dir matching Pattern, sorted.
-spec wildcard(binary(), binary()) -> [binary()].
wildcard(Dir, Pattern) ->
    lists:sort([list_to_binary(F) || F <- filelib:wildcard(binary_to_list(Pattern), binary_to_list(Dir))]).

%% A file's size in bytes, -1 when it is missing.
-spec file_size(binary()) -> integer().
file_size(Path) ->
    case file:read_file_info(Path) of
        {ok, Info} -> element(2, Info);
        {error, _} -> -1
    end.

-spec write_file(binary(), binary()) -> nil.
write_file(Path, Bytes) ->
    ok = file:write_file(Path, Bytes),
    nil.

-spec read_text(binary()) -> binary().
read_text(Path) ->
    {ok, Bin} = file:read_file(Path),
    Bin.

%% Kills a process at once (no cleanup), unlinked first so the test lives.
-spec kill(pid()) -> nil.
kill(Pid) ->
    unlink(Pid),
    Ref = monitor(process, Pid),
    exit(Pid, kill),
    receive {'DOWN', Ref, process, Pid, _} -> nil end.

%% A copy of the plans file at Plans, at To, without Customer's plan.
-spec plans_without(binary(), binary(), binary()) -> nil.
plans_without(Plans, Customer, To) ->
    {ok, Bin} = file:read_file(Plans),
    {ok, #{<<"customers">> := Customers} = Doc} = tally_json:decode(Bin),
    ok = file:write_file(To, tally_json:encode(Doc#{<<"customers">> := maps:remove(Customer, Customers)})),
    nil.
