%% @doc Test support for the process layer's tests (tests/tally/otp/):
%% untyped messages and exits the Gleam tests provoke and look at.
-module(tally_otp_test_ffi).

-export([exit_with/1, message_queue_len/1, isolated/1, raw_send/2, catch_exit/1, exit_kind/1, atom/1, element_text/2, exit_reason_text/1]).

%% Sends a term with no subject tag (what a port or a socket sends).
-spec raw_send(pid(), term()) -> nil.
raw_send(Pid, Term) -> Pid ! Term, nil.

%% Runs Fun; an exit becomes {error, Reason}.
-spec catch_exit(fun(() -> term())) -> {ok, term()} | {error, term()}.
catch_exit(Fun) ->
    try Fun() of Value -> {ok, Value}
    catch exit:Reason -> {error, Reason}
    end.

%% The first element of an exit reason tuple, as text ("callee_timeout").
-spec exit_kind(term()) -> binary().
exit_kind({Kind, _}) when is_atom(Kind) -> atom_to_binary(Kind);
exit_kind(Other) -> iolist_to_binary(io_lib:format("~p", [Other])).

-spec exit_reason_text(term()) -> binary().
exit_reason_text(Reason) -> iolist_to_binary(io_lib:format("~p", [Reason])).

%% Test-only atoms from literals in the tests.
-spec atom(binary()) -> atom().
atom(Text) -> binary_to_atom(Text).

-spec element_text(pos_integer(), tuple()) -> binary().
element_text(N, Tuple) -> element(N, Tuple).

%% Runs Body in a process of its own, so what it leaves in its mailbox or
%% process flags cannot reach the next test; its failure is the test's.
%% The crashes these tests cause on purpose are not logged.
-spec isolated(fun(() -> nil)) -> nil.
isolated(Body) ->
    #{level := Level} = logger:get_primary_config(),
    ok = logger:set_primary_config(level, none),
    {Pid, Ref} = spawn_monitor(fun() -> Body() end),
    Result = receive {'DOWN', Ref, process, Pid, R} -> R end,
    %% Supervisors' reports of the last exits may still be on their way.
    timer:sleep(10),
    ok = logger:set_primary_config(level, Level),
    case Result of
        normal -> nil;
        Reason -> erlang:error({test_process_failed, Reason})
    end.

-spec message_queue_len(pid()) -> non_neg_integer().
message_queue_len(Pid) ->
    {message_queue_len, N} = process_info(Pid, message_queue_len),
    N.

%% exit(Reason), for the tests' processes that end on purpose. Typed as
%% returning (rand:uniform(1) is always 1, Dialyzer does not know it) so
%% Dialyzer does not call the tests' funs ones that never return.
-spec exit_with(term()) -> nil.
exit_with(Reason) ->
    case rand:uniform(1) of
        1 -> exit(Reason);
        _ -> nil
    end.
