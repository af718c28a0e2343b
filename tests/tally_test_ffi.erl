%% @doc Test support for the Gleam tests: an EUnit runner over the Gleam
%% test modules, and assertions that print both sides.
-module(tally_test_ffi).

-export([run_all_test_modules/0, equal/2, labelled/2, shadow_mismatches/1, sha256_of/1, log/2, with_pipeline_on_sample/1, os_process_alive/1, wait_until_gone/2]).

%% Every module beside tally_test whose name ends in `_test`; Gleam test
%% functions end in `_test` too, which is what EUnit looks for. Returns nil
%% when every test passed (`gleam test` then exits 0; make test halts), and
%% halts the node with status 1 when one failed.
-spec run_all_test_modules() -> nil.
run_all_test_modules() ->
    Dir = filename:dirname(code:which(tally_test)),
    Modules = lists:sort([list_to_atom(filename:basename(F, ".beam"))
                          || F <- filelib:wildcard(filename:join(Dir, "*_test.beam"))])
              -- [tally_test],
    io:format("Gleam test modules: ~p~n", [Modules]),
    case eunit:test(Modules, [{print_depth, 100}]) of
        ok -> nil;
        _ -> erlang:halt(1)
    end.

-spec equal(term(), term()) -> nil.
equal(Got, Got) ->
    nil;
equal(Got, Want) ->
    erlang:error({not_equal, [{got, Got}, {want, Want}]}).

%% Runs Body; a failure is re-raised with Label in front, to say which case failed.
-spec labelled(binary(), fun(() -> nil)) -> nil.
labelled(Label, Body) ->
    try Body()
    catch Class:Reason:Stack -> erlang:raise(Class, {Label, Reason}, Stack)
    end.

-spec os_process_alive(integer()) -> boolean().
os_process_alive(OsPid) ->
    %% A zombie still has /proc/PID; count it as alive, since nobody reaped it.
    filelib:is_dir("/proc/" ++ integer_to_list(OsPid)).

%% Polls until the OS process is gone, for at most TimeoutMs.
-spec wait_until_gone(integer(), integer()) -> boolean().
wait_until_gone(OsPid, TimeoutMs) when TimeoutMs =< 0 ->
    not os_process_alive(OsPid);
wait_until_gone(OsPid, TimeoutMs) ->
    case os_process_alive(OsPid) of
        false -> true;
        true -> timer:sleep(10), wait_until_gone(OsPid, TimeoutMs - 10)
    end.

%% The running system on the bundled sample (run from the repository
%% root), with its data in a fresh temporary directory. It starts the
%% supervision tree itself (tally/app/tree), not the application: under
%% `gleam test` the runner has started the application already, inert (no
%% sources), and it is stopped first; under `make test` it is not running.
-spec with_pipeline_on_sample(fun(() -> nil)) -> nil.
with_pipeline_on_sample(Body) ->
    start_pipeline_on_sample(),
    try Body() after stop_pipeline() end.

start_pipeline_on_sample() ->
    Dir = string:trim(os:cmd("mktemp -d -t tally-gleam-XXXXXX")),
    Sources = [#{name => <<"edge">>, format => json_lines, path => "sample/events.jsonl"},
               #{name => <<"s3">>, format => s3_access_log, path => "sample/s3_access.log"},
               #{name => <<"ceph">>, format => rgw_usage, path => "sample/rgw"},
               #{name => <<"storage">>, format => storage_csv, path => "sample/storage.csv"}],
    [ok = application:set_env(tally, K, V) || {K, V} <- [{data_dir, Dir}, {sources, Sources},
                                                         {plans, "sample/plans.json"}, {bus, none}]],
    #{level := Level} = logger:get_primary_config(),
    put(tally_test_log_level, Level),
    ok = logger:set_primary_config(level, error),
    {ok, _} = application:ensure_all_started(crypto),
    _ = application:stop(tally),
    {ok, Sup} = 'tally@app@tree':start_link(),
    %% The tree outlives this call's process only as long as the test runs.
    true = unlink(Sup),
    put(tally_test_sup, Sup),
    nil.

stop_pipeline() ->
    Sup = get(tally_test_sup),
    Ref = monitor(process, Sup),
    exit(Sup, shutdown),
    receive {'DOWN', Ref, process, Sup, _} -> ok end,
    [application:unset_env(tally, K) || {K, _} <- application:get_all_env(tally)],
    ok = logger:set_primary_config(level, get(tally_test_log_level)),
    nil.

%% Runs Run with a logger handler that catches shadow mismatch reports;
%% returns Run's result and each report's operation and input digest.
-spec shadow_mismatches(fun(() -> term())) -> {term(), [{binary(), binary()}]}.
shadow_mismatches(Run) ->
    Id = list_to_atom("tally_test_capture_" ++ integer_to_list(erlang:unique_integer([positive]))),
    %% Let warnings through to this handler only, whatever other tests set.
    #{level := Primary} = logger:get_primary_config(),
    {ok, #{level := Default}} = logger:get_handler_config(default),
    ok = logger:set_primary_config(level, all),
    ok = logger:set_handler_config(default, level, none),
    ok = logger:add_handler(Id, ?MODULE, #{config => #{to => self()}}),
    Result = try Run()
             after
                 ok = logger:remove_handler(Id),
                 ok = logger:set_handler_config(default, level, Default),
                 ok = logger:set_primary_config(level, Primary)
             end,
    {Result, collect_mismatches()}.

collect_mismatches() ->
    receive
        {shadow_mismatch, Op, Digest} -> [{Op, Digest} | collect_mismatches()]
    after 0 -> []
    end.

%% The logger handler callback.
-spec log(logger:log_event(), logger:handler_config()) -> ok.
log(#{msg := {report, #{msg := "shadow mismatch", operation := Op, input_sha256 := D}}},
    #{config := #{to := Pid}}) ->
    Pid ! {shadow_mismatch, Op, D},
    ok;
log(_Event, _Config) ->
    ok.

-spec sha256_of(term()) -> binary().
sha256_of(Term) ->
    binary:encode_hex(crypto:hash(sha256, term_to_binary(Term))).
