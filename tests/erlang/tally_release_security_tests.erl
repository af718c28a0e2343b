%% The release as an operator installs it: no cookie ships with it, each
%% installation makes its own (mode 0600) at first start, and Erlang
%% distribution and epmd listen on loopback only.
-module(tally_release_security_tests).
-include_lib("eunit/include/eunit.hrl").

-define(BUILT, "_build/default/rel/tally").

each_installation_has_its_own_cookie_and_listens_on_loopback_only_test_() ->
    {timeout, 180, fun() -> tally_test_support:quiet(fun own_cookie_loopback_only/0) end}.

own_cookie_loopback_only() ->
    ?assert(filelib:is_regular(filename:join(?BUILT, "bin/tally"))),
    %% What ships: the cookie is a variable, never a value.
    {ok, Src} = file:read_file(filename:join(?BUILT, "releases/0.1.0/vm.args.src")),
    ?assertEqual([<<"-setcookie ${RELX_COOKIE}">>],
                 [L || L <- binary:split(Src, <<"\n">>, [global]), binary:match(L, <<"cookie">>) =/= nomatch,
                       binary:first(L) =/= $#]),
    A = install(),
    B = install(),
    Node = "tallysec" ++ os:getpid() ++ "_" ++ integer_to_list(erlang:unique_integer([positive])),
    Env = [{"TALLY_NODE_NAME", Node}, {"TALLY_BASE_DIR", filename:absname("")},
           {"TALLY_DATA_DIR", tmp_dir("tally-sec-data")}],
    Vm = open_port({spawn_executable, filename:join(A, "bin/tally")},
                   [{args, ["foreground"]}, {env, Env}, exit_status, binary, stderr_to_stdout]),
    try
        case wait_pong(A, Env, 30) of
            ok -> ok;
            NotUp -> error({NotUp, binary_to_list(drain(Vm, <<>>))})
        end,
        CookieA = cookie(A),
        ?assertMatch({match, _}, re:run(CookieA, "^[0-9a-f]{64}$")),
        ?assertEqual(8#600, mode(filename:join(A, "releases/COOKIE"))),
        %% The start script and the VM agree on it (eval goes through distribution).
        ?assertEqual("\"" ++ CookieA ++ "\"", eval(A, Env, "atom_to_list(erlang:get_cookie()).")),
        %% Every TCP socket of the VM (distribution listener, epmd link) is on loopback.
        ?assertEqual("[{127,0,0,1}]",
                     eval(A, Env, "lists:usort([Ip || P <- erlang:ports(), erlang:port_info(P, name) =:= {name, \"tcp_inet\"}, "
                                  "{ok, {Ip, _}} <- [inet:sockname(P)]]).")),
        ?assertEqual("\"127.0.0.1\"", eval(A, Env, "os:getenv(\"ERL_EPMD_ADDRESS\").")),
        %% From another address of this host, the distribution port refuses.
        {ok, Names} = net_adm:names(),
        {_, DistPort} = lists:keyfind(Node, 1, Names),
        [?assertEqual({error, econnrefused}, gen_tcp:connect(Ip, DistPort, [], 2000)) || Ip <- other_addresses()],
        %% A second installation makes a different cookie.
        _ = sh(B, Env, "ping"),
        ?assertEqual(8#600, mode(filename:join(B, "releases/COOKIE"))),
        ?assertNotEqual(CookieA, cookie(B))
    after
        _ = sh(A, Env, "stop"),
        receive {Vm, {exit_status, _}} -> ok after 30000 -> ok end
    end.

drain(Port, Acc) ->
    receive {Port, {data, D}} -> drain(Port, <<Acc/binary, D/binary>>) after 0 -> Acc end.

%% A new installation: its own bin/ and releases/, the built lib/ and erts.
install() ->
    Dir = tmp_dir("tally-sec-install"),
    Built = filename:absname(?BUILT),
    "" = os:cmd("cp -r " ++ Built ++ "/bin " ++ Built ++ "/releases " ++ Dir ++ " && rm -f "
                ++ Dir ++ "/releases/COOKIE " ++ Dir ++ "/releases/*/vm.args"),
    _ = [ok = file:make_symlink(filename:join(Built, F), filename:join(Dir, F))
         || F <- filelib:wildcard("{lib,erts-*}", Built)],
    Dir.

tmp_dir(Prefix) -> string:trim(os:cmd("mktemp -d -t " ++ Prefix ++ "-XXXXXX")).

cookie(Install) ->
    {ok, Bin} = file:read_file(filename:join(Install, "releases/COOKIE")),
    binary_to_list(Bin).

mode(Path) ->
    {ok, Info} = file:read_file_info(Path),
    element(8, Info) band 8#777.

sh(Install, Env, Args) ->
    Vars = lists:append([K ++ "='" ++ V ++ "' " || {K, V} <- Env]),
    string:trim(os:cmd(Vars ++ filename:join(Install, "bin/tally") ++ " " ++ Args ++ " 2>&1")).

%% The printed result, without spaces.
eval(Install, Env, Expr) ->
    [C || C <- sh(Install, Env, "eval '" ++ Expr ++ "'"), C =/= $\s].

wait_pong(Install, Env, N) ->
    case sh(Install, Env, "ping") of
        "pong" -> ok;
        Other when N =< 1 -> {error, {release_not_up, Other}};
        _ -> timer:sleep(200), wait_pong(Install, Env, N - 1)
    end.

%% This host's IPv4 addresses other than loopback.
other_addresses() ->
    {ok, Ifs} = inet:getifaddrs(),
    [Ip || {_, Opts} <- Ifs, {addr, {A, _, _, _} = Ip} <- Opts, A =/= 127].
