%% @doc The few calls the example's Gleam cannot make itself: where priv/ is,
%% and the port's side of a call (open, send `{Id, Op, Args}` with
%% `term_to_binary`, read `{Id, Result}` with `binary_to_term(_, [safe])`).
-module(interop_example_ffi).

-export([priv_dir/0, start_port/0, stop_port/1, call/3]).

-define(TIMEOUT_MS, 10000).

%% The application's priv/ (under `gleam build`'s build directory, or the
%% example's own when its ebin sits at build/npm/interop_example/ebin).
-spec priv_dir() -> file:filename().
priv_dir() ->
    case code:priv_dir(interop_example) of
        {error, bad_name} ->
            filename:join(filename:dirname(filename:dirname(code:which(?MODULE))), "priv");
        Dir ->
            Dir
    end.

-spec start_port() -> {ok, port()} | {error, {port_exited, integer()}}.
start_port() ->
    Exe = filename:join(priv_dir(), "interop_example_port"),
    %% The replies' atoms exist before any reply is decoded with [safe].
    _ = interop_example_atoms:all(),
    try open_port({spawn_executable, Exe}, [{packet, 4}, binary, exit_status, use_stdio]) of
        Port -> {ok, Port}
    catch
        error:_ -> {error, {port_exited, -1}}
    end.

-spec stop_port(port()) -> nil.
stop_port(Port) ->
    catch port_close(Port),
    nil.

-spec call(port(), atom(), tuple()) -> {ok, term()} | {error, term()}.
call(Port, Op, Args) ->
    Id = erlang:unique_integer([positive]),
    try port_command(Port, term_to_binary({Id, Op, Args})) of
        true -> await(Port, Id)
    catch
        error:badarg -> {error, {port_exited, -1}}
    end.

await(Port, Id) ->
    receive
        {Port, {data, Frame}} ->
            try binary_to_term(Frame, [safe]) of
                {Id, Reply} -> Reply;
                {_Stale, _} -> await(Port, Id)
            catch
                %% An atom the VM does not know (a reply type missing from
                %% the crate's vocabulary()): an error, not a crash.
                error:badarg -> {error, {bad_reply, <<"a reply with an atom not in the vocabulary">>}}
            end;
        {Port, {exit_status, Status}} ->
            {error, {port_exited, Status}}
    after ?TIMEOUT_MS ->
        {error, port_timeout}
    end.
